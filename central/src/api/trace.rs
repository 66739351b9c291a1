//! What the work order and traceability pages show, as JSON ([`crate::store::trace`]): an
//! order's lots and its timeline of edge events, and a lot's trace (genealogy both ways,
//! bounded, with each lot's item, stock on hand, holds and the orders it touched). The pages
//! ([`crate::web::work_orders`], [`crate::web::trace`]) call the same functions.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiPath, ApiQuery};
use super::policy::{Principal, Routes, needs};
use crate::people::roles::Permission;
use crate::store::inventory::{Direction, GenealogyLink, InventoryFilter, OnHandRow};
use crate::store::people::Record;
use crate::store::trace::{MAX_TIMELINE_PAGE, OrderLots, Timeline, TimelineCursor};
use crate::store::work_orders::LotHold;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// Levels of genealogy a trace shows each way unless asked.
pub const DEFAULT_LEVELS: u32 = 4;
/// Most levels a trace shows each way.
pub const MAX_LEVELS: u32 = 20;
/// Lots a trace shows each way unless asked.
pub const DEFAULT_NODES: usize = 40;
/// Most lots a trace shows each way.
pub const MAX_NODES: usize = 200;
/// Timeline entries a page shows unless asked.
pub const DEFAULT_TIMELINE: usize = 50;

pub fn routes() -> Routes {
    use Permission::{InventoryRead, WorkOrdersRead};
    let order = needs(WorkOrdersRead).on(Record::WorkOrder, "id");
    Routes::new()
        .get(
            "/api/v1/work-orders.csv",
            needs(WorkOrdersRead),
            work_orders_csv,
        )
        .get("/api/v1/work-orders/{id}/lots", order, order_lots)
        .get("/api/v1/work-orders/{id}/timeline", order, order_timeline)
        .get(
            "/api/v1/lots/{lot}/trace",
            needs(InventoryRead).on(Record::Lot, "lot"),
            lot_trace,
        )
}

fn no_order(id: &str) -> AppError {
    AppError::not_found(format!(
        "no work order {id:?}; expected one created with post /api/v1/work-orders"
    ))
}

/// The columns of `GET /api/v1/work-orders.csv`.
pub const WORK_ORDER_CSV_COLUMNS: [&str; 9] = [
    "work_order",
    "item",
    "line",
    "qty",
    "due",
    "priority",
    "state",
    "good",
    "scrap",
];

/// `GET /api/v1/work-orders.csv`: the list `GET /api/v1/work-orders` answers with the same
/// query, a row per order.
async fn work_orders_csv(
    State(state): State<AppState>,
    p: Principal,
    ApiQuery(query): ApiQuery<crate::api::work_orders::WorkOrderQuery>,
) -> Result<axum::response::Response, AppError> {
    use axum::http::HeaderValue;
    use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
    use axum::response::IntoResponse;
    let list = crate::api::work_orders::list(&state, &p, &query).await?;
    let csv_error = |e: csv::Error| AppError::internal(format!("cannot write csv: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(WORK_ORDER_CSV_COLUMNS)
        .map_err(csv_error)?;
    for wo in &list.work_orders {
        writer
            .write_record([
                wo.work_order.clone(),
                wo.item.clone(),
                wo.line.clone(),
                wo.qty.normalize().to_string(),
                wo.due.to_string(),
                wo.priority.to_string(),
                wo.state.as_str().to_owned(),
                wo.good.to_string(),
                wo.scrap.to_string(),
            ])
            .map_err(csv_error)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| AppError::internal(format!("cannot write csv: {e}")))?;
    Ok((
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"work-orders.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/v1/work-orders/{id}/lots`: lots issued to and produced by the order.
async fn order_lots(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<OrderLots>, AppError> {
    state
        .store()
        .order_lots(id.clone())
        .await?
        .map(axum::Json)
        .ok_or_else(|| no_order(&id))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// The cursor (`next` of the page before): entries older than this one.
    pub before_at: Option<DateTime<Utc>>,
    pub before_edge: Option<String>,
    pub before_seq: Option<u64>,
    /// Most entries (1 to [`MAX_TIMELINE_PAGE`], [`DEFAULT_TIMELINE`] if absent).
    pub limit: Option<usize>,
}

impl TimelineQuery {
    fn cursor(&self) -> Result<Option<TimelineCursor>, AppError> {
        match (&self.before_at, &self.before_edge, self.before_seq) {
            (None, None, None) => Ok(None),
            (Some(_), Some(_), Some(seq)) if seq > protocol::bounds::MAX_SEQ => {
                Err(AppError::bad_request(format!(
                    "before_seq {seq} is beyond any seq; expected at most {}",
                    protocol::bounds::MAX_SEQ
                )))
            }
            (Some(at), Some(edge), Some(seq)) => Ok(Some(TimelineCursor {
                at: *at,
                edge_id: edge.clone(),
                seq,
            })),
            _ => Err(AppError::bad_request(
                "before_at, before_edge and before_seq go together; expected all three (the `next` of the page before) or none",
            )),
        }
    }
}

/// An order's timeline page, as the API answers and the order's page shows it.
pub async fn timeline(
    state: &AppState,
    id: &str,
    query: &TimelineQuery,
) -> Result<Timeline, AppError> {
    let limit = query.limit.unwrap_or(DEFAULT_TIMELINE);
    if limit == 0 || limit > MAX_TIMELINE_PAGE {
        return Err(AppError::bad_request(format!(
            "limit {limit} is not valid; expected 1 to {MAX_TIMELINE_PAGE}"
        )));
    }
    let cursor = query.cursor()?;
    state
        .store()
        .order_timeline(id.to_owned(), cursor, limit)
        .await?
        .ok_or_else(|| no_order(id))
}

/// `GET /api/v1/work-orders/{id}/timeline?before_at&before_edge&before_seq&limit`.
async fn order_timeline(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> Result<axum::Json<Timeline>, AppError> {
    Ok(axum::Json(timeline(&state, &id, &query).await?))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The lot traced.
    Start,
    /// What it was made of, at some remove.
    Backward,
    /// What was made of it.
    Forward,
}

/// One lot of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceNode {
    pub lot: String,
    pub side: Side,
    /// Levels from the lot traced (0 for it).
    pub depth: u32,
    /// Whether the caller may see this lot (a lot of another plant is named, nothing more).
    pub visible: bool,
    pub item: Option<String>,
    /// Where it is now: on hand by location (`GET /api/v1/inventory?item&lot`).
    pub on_hand: Vec<OnHandRow>,
    /// The orders that produced it.
    pub made_by: Vec<String>,
    /// The orders it was issued to.
    pub used_by: Vec<String>,
    pub hold: Option<LotHold>,
}

/// A lot's genealogy both ways, the nearest `levels` and at most `max_nodes` lots each way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceReport {
    pub lot: String,
    pub levels: u32,
    pub max_nodes: usize,
    /// The lot itself first, then what it was made of, then what was made of it, each
    /// nearest first.
    pub nodes: Vec<TraceNode>,
    /// "Made of" links between the lots shown.
    pub links: Vec<GenealogyLink>,
    /// Lots just beyond the bounds, each way: at least this many more (those beyond them
    /// are not followed, so the work stays bounded).
    pub left_out_backward: usize,
    pub left_out_forward: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceQuery {
    /// Levels each way (1 to [`MAX_LEVELS`], [`DEFAULT_LEVELS`] if absent).
    pub levels: Option<u32>,
    /// Lots each way (1 to [`MAX_NODES`], [`DEFAULT_NODES`] if absent).
    pub nodes: Option<usize>,
}

/// `GET /api/v1/lots/{lot}/trace?levels&nodes`.
async fn lot_trace(
    State(state): State<AppState>,
    p: Principal,
    ApiPath(lot): ApiPath<String>,
    ApiQuery(query): ApiQuery<TraceQuery>,
) -> Result<axum::Json<TraceReport>, AppError> {
    Ok(axum::Json(trace(&state, &p, &lot, &query).await?))
}

/// A lot's trace as the API answers it and the traceability page draws it. The caller's
/// right to the lot itself was checked by the route's record rule; every other lot is shown
/// in full only when it is of one of their plants (or of none).
pub async fn trace(
    state: &AppState,
    p: &Principal,
    lot: &str,
    query: &TraceQuery,
) -> Result<TraceReport, AppError> {
    super::validate::check_id("lot", lot)?;
    let levels = query.levels.unwrap_or(DEFAULT_LEVELS);
    if levels == 0 || levels > MAX_LEVELS {
        return Err(AppError::bad_request(format!(
            "levels {levels} is not valid; expected 1 to {MAX_LEVELS}"
        )));
    }
    let max_nodes = query.nodes.unwrap_or(DEFAULT_NODES);
    if max_nodes == 0 || max_nodes > MAX_NODES {
        return Err(AppError::bad_request(format!(
            "nodes {max_nodes} is not valid; expected 1 to {MAX_NODES}"
        )));
    }
    let store = state.store();
    let mut picked: Vec<(String, Side, u32, Option<String>)> = Vec::new();
    let mut shown: BTreeSet<String> = BTreeSet::from([lot.to_owned()]);
    let mut links = BTreeSet::new();
    let mut left_out = [0usize; 2];
    let mut start_item = None;
    for (i, (direction, side)) in [
        (Direction::Backward, Side::Backward),
        (Direction::Forward, Side::Forward),
    ]
    .into_iter()
    .enumerate()
    {
        let near = store
            .genealogy_near(lot.to_owned(), direction, levels, max_nodes)
            .await?;
        left_out[i] = near.left_out;
        for node in near.nodes {
            if node.depth == 0 {
                start_item = start_item.or(node.item);
                continue;
            }
            // A lot already shown on the other side (a cycle) is shown once.
            if shown.insert(node.lot.clone()) {
                picked.push((node.lot, side, node.depth, node.item));
            }
        }
        links.extend(near.links);
    }
    let links: Vec<GenealogyLink> = links
        .into_iter()
        .filter(|l| shown.contains(&l.produced) && shown.contains(&l.consumed))
        .collect();
    picked.insert(0, (lot.to_owned(), Side::Start, 0, start_item));
    let orders = store
        .lot_orders(picked.iter().map(|(l, ..)| l.clone()).collect())
        .await?;
    let holds: HashMap<String, LotHold> = store
        .lot_holds()
        .await?
        .into_iter()
        .map(|h| (h.lot.clone(), h))
        .collect();
    let mut nodes = Vec::with_capacity(picked.len());
    for ((lot, side, depth, item), orders) in picked.into_iter().zip(orders) {
        let visible = side == Side::Start || {
            let plants = store.plants_of(Record::Lot, lot.clone()).await?;
            p.may_see(&plants, false)
        };
        if !visible {
            nodes.push(TraceNode {
                lot,
                side,
                depth,
                visible,
                item: None,
                on_hand: Vec::new(),
                made_by: Vec::new(),
                used_by: Vec::new(),
                hold: None,
            });
            continue;
        }
        let item = item.or(orders.item);
        // With its item the ledger is read by its index; a lot no table names an item of
        // has no stock to show.
        let on_hand = match &item {
            Some(item) => {
                store
                    .on_hand(InventoryFilter {
                        item: Some(item.clone()),
                        lot: Some(lot.clone()),
                        ..Default::default()
                    })
                    .await?
            }
            None => Vec::new(),
        };
        nodes.push(TraceNode {
            hold: holds.get(&lot).cloned(),
            lot,
            side,
            depth,
            visible,
            item,
            on_hand,
            made_by: orders.made_by,
            used_by: orders.used_by,
        });
    }
    Ok(TraceReport {
        lot: lot.to_owned(),
        levels,
        max_nodes,
        nodes,
        links,
        left_out_backward: left_out[0],
        left_out_forward: left_out[1],
    })
}

/// Adds these routes and their schemas to the OpenAPI document ([`super::openapi`]).
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let path_param = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}});
    let query = |name: &str, kind: &str, what: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": kind}, "description": what});
    let ok = |schema: &str| json!({"description": "ok", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let dec = json!({"type": "string", "description": "exact decimal", "nullable": true});
    let lot_qty = json!({"type": "object", "properties": {"item": {"type": "string"}, "lot": {"type": "string"}, "uom": {"type": "string"}, "qty": dec,
        "problem": {"type": "string", "description": "present when the ledger entries do not sum to a quantity"}}});
    let hold = json!({"$ref": "#/components/schemas/LotHold"});
    let paths = json!({
        "/api/v1/work-orders.csv": {"get": {"summary": "the work orders GET /api/v1/work-orders lists with the same query, as CSV",
            "description": "Columns: work_order, item, line, qty, due, priority, state, good, scrap (good and scrap at the last operation).",
            "tags": ["work orders"], "responses": {"200": {"description": "CSV with a header", "content": {"text/csv": {}}}, "400": error, "401": error}}},
        "/api/v1/work-orders/{id}/lots": {"get": {"summary": "lots issued to and produced by a work order, from the stock ledger (reversed entries left out), and the quality holds on them",
            "tags": ["work orders"], "parameters": [path_param("id")], "responses": {"200": ok("OrderLots"), "401": error, "404": error}}},
        "/api/v1/work-orders/{id}/timeline": {"get": {"summary": "the edge events that name a work order, newest first, paged",
            "description": "Events of the kinds work_order_started, work_order_paused, work_order_completed, production_reported, material_issued, lot_produced and measurement, from the edges whose plans carried the order and its line's edge; quarantined events left out. Pass the answer's `next` as before_at, before_edge and before_seq for the page after.",
            "tags": ["work orders"], "parameters": [path_param("id"),
                query("before_at", "string", "RFC 3339; with before_edge and before_seq"), query("before_edge", "string", "the cursor's edge"),
                query("before_seq", "integer", "the cursor's seq"), query("limit", "integer", "1 to 200, 50 if absent")],
            "responses": {"200": ok("Timeline"), "400": error, "401": error, "404": error}}},
        "/api/v1/lots/{lot}/trace": {"get": {"summary": "a lot's genealogy backward and forward, bounded, with each lot's item, stock on hand, hold and the work orders it touched",
            "description": "The nearest `levels` (1 to 20, 4 if absent) and at most `nodes` lots (1 to 200, 40 if absent) each way; left_out_backward and left_out_forward count the lots just beyond (at least that many more; the trace stops there, so its work is bounded). A lot of a plant the caller does not see is named with visible=false and nothing more. No customers are listed: central records no shipments yet.",
            "tags": ["inventory"], "parameters": [path_param("lot"), query("levels", "integer", "levels each way"), query("nodes", "integer", "lots each way")],
            "responses": {"200": ok("LotTrace"), "400": error, "401": error, "404": error}}}
    });
    let schemas = json!({
        "OrderLots": {"type": "object", "properties": {"work_order": {"type": "string"},
            "issued": {"type": "array", "items": lot_qty, "description": "per component item, lot and unit: what was issued (positive)"},
            "produced": {"type": "array", "items": lot_qty}, "holds": {"type": "array", "items": hold}}},
        "Timeline": {"type": "object", "properties": {"work_order": {"type": "string"},
            "entries": {"type": "array", "items": {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}, "edge_id": {"type": "string"}, "seq": {"type": "integer"},
                "kind": {"type": "string"}, "event": {"type": "object", "description": "the event's kind as the edge sent it"}}}},
            "next": {"type": "object", "nullable": true, "properties": {"at": {"type": "string", "format": "date-time"}, "edge_id": {"type": "string"}, "seq": {"type": "integer"}}}}},
        "LotTrace": {"type": "object", "properties": {"lot": {"type": "string"}, "levels": {"type": "integer"}, "max_nodes": {"type": "integer"},
            "nodes": {"type": "array", "items": {"type": "object", "properties": {"lot": {"type": "string"}, "side": {"type": "string", "enum": ["start", "backward", "forward"]},
                "depth": {"type": "integer"}, "visible": {"type": "boolean"}, "item": {"type": "string", "nullable": true},
                "on_hand": {"type": "array", "items": {"type": "object"}, "description": "as GET /api/v1/inventory?item&lot answers"},
                "made_by": {"type": "array", "items": {"type": "string"}}, "used_by": {"type": "array", "items": {"type": "string"}}, "hold": {"nullable": true, "allOf": [hold]}}}},
            "links": {"type": "array", "items": {"type": "object", "properties": {"produced": {"type": "string"}, "consumed": {"type": "string"}}}},
            "left_out_backward": {"type": "integer", "description": "lots just beyond the bounds: at least this many more"}, "left_out_forward": {"type": "integer"}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}

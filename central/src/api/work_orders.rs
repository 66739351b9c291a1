//! Shop-floor routes: lines (mapped to edges), work centers, routings, work orders and lot
//! holds ([`crate::store::work_orders`]). All need the admin token.
//!
//! A change that publishes plan versions wakes the edges' long polls after the commit; a
//! work order made or changed wakes the live pages (head office's delivery figures), here
//! and, through the store's change feed, at the other instances.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery, CsvBody};
use super::policy::{Principal, Routes, needs};
use super::validate::{check_id, check_qty, check_text};
use crate::erp::work_order::{Action, State};
use crate::people::roles::Permission;
use crate::store::people::Record;
use crate::store::work_orders::{
    Changed, Line, LotExpiry, LotHold, NewWorkOrder, Routing, RoutingOperation, UnmatchedOrder,
    WoRejection, WorkCenter, WorkOrderChange, WorkOrderSummary, WorkOrderView,
};
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Highest operation number a routing may use.
pub const MAX_OPERATION: u32 = 99_999;
/// Most operations one routing has.
pub const MAX_OPERATIONS: usize = 500;

pub fn routes() -> Routes {
    use Permission::*;
    let line = |p| needs(p).on(Record::Line, "line");
    let wc = |p| needs(p).on(Record::WorkCenter, "work_center");
    let order = |p| needs(p).on(Record::WorkOrder, "id");
    let lot = needs(LotsHold).on(Record::Lot, "lot");
    let mut routes = Routes::new()
        .get("/api/v1/lines", needs(MasterDataRead), list_lines)
        .get("/api/v1/lines/{line}", line(MasterDataRead), get_line)
        .put("/api/v1/lines/{line}", line(MasterDataWrite), put_line)
        .get(
            "/api/v1/work-centers",
            needs(MasterDataRead),
            list_work_centers,
        )
        .get(
            "/api/v1/work-centers/{work_center}",
            wc(MasterDataRead),
            get_work_center,
        )
        .put(
            "/api/v1/work-centers/{work_center}",
            wc(MasterDataWrite),
            put_work_center,
        )
        .get(
            "/api/v1/routings/{item}",
            needs(MasterDataRead),
            get_routing,
        )
        .put(
            "/api/v1/routings/{item}",
            needs(MasterDataWrite),
            put_routing,
        )
        .post(
            "/api/v1/work-orders",
            needs(WorkOrdersWrite),
            create_work_order,
        )
        .get(
            "/api/v1/work-orders",
            needs(WorkOrdersRead),
            list_work_orders,
        )
        .get(
            "/api/v1/work-orders/{id}",
            order(WorkOrdersRead),
            get_work_order,
        )
        .patch(
            "/api/v1/work-orders/{id}",
            order(WorkOrdersWrite),
            change_work_order,
        );
    // Releasing sends an order to the lines; cancelling and closing end it.
    for (path, action, permission) in [
        (
            "/api/v1/work-orders/{id}/release",
            Action::Release,
            WorkOrdersRelease,
        ),
        (
            "/api/v1/work-orders/{id}/hold",
            Action::Hold,
            WorkOrdersRelease,
        ),
        (
            "/api/v1/work-orders/{id}/unhold",
            Action::Unhold,
            WorkOrdersRelease,
        ),
        (
            "/api/v1/work-orders/{id}/cancel",
            Action::Cancel,
            WorkOrdersClose,
        ),
        (
            "/api/v1/work-orders/{id}/close",
            Action::Close,
            WorkOrdersClose,
        ),
    ] {
        routes = routes.post(
            path,
            order(permission),
            move |state: AxumState<AppState>, p: Principal, id: ApiPath<String>| {
                work_order_action(state, p, id, action)
            },
        );
    }
    routes
        .get(
            "/api/v1/unmatched-work-orders",
            needs(WorkOrdersRead),
            unmatched,
        )
        .post("/api/v1/lots/{lot}/hold", lot, hold_lot)
        .post("/api/v1/lots/{lot}/release", lot, release_lot)
        .post("/api/v1/lots/{lot}/expiry", lot, set_lot_expiry)
        .get("/api/v1/lot-holds", needs(WorkOrdersRead), lot_holds)
        .post(
            "/api/v1/import/routings",
            needs(MasterDataWrite),
            import_routings,
        )
}

/// `POST /api/v1/import/routings`: `item,operation,description,work_center`, all or
/// nothing; replaces the routing of every item named.
async fn import_routings(
    AxumState(state): AxumState<AppState>,
    CsvBody(body): CsvBody,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let rows = tokio::task::spawn_blocking(move || crate::erp::routing_import::parse(&body))
        .await
        .map_err(|e| AppError::internal(format!("central's worker task failed: {e}")))?
        .map_err(|(rows, total)| AppError::invalid_csv(rows, total))?;
    let imported = state.store().import_routings(rows).await?;
    // An operation's ideal cycle time is in the figures of the runs it made.
    state.oee_runs().clear();
    match imported {
        Ok(n) => {
            tracing::info!(rows = n, "imported routings");
            Ok(axum::Json(
                serde_json::json!({"kind": "routings", "rows": n}),
            ))
        }
        Err(rows) => {
            let total = rows.len();
            Err(AppError::invalid_csv(rows, total))
        }
    }
}

pub(crate) fn rejection(r: WoRejection) -> AppError {
    match r {
        WoRejection::NotFound(m) => AppError::not_found(m),
        WoRejection::Invalid(m) => AppError::bad_request(m),
        WoRejection::Conflict(m) => AppError::new(StatusCode::CONFLICT, "conflict", m),
        WoRejection::AwaitingApproval(m) => {
            AppError::new(StatusCode::CONFLICT, "awaiting_approval", m)
        }
        WoRejection::Refused(refused) => AppError::new(
            StatusCode::CONFLICT,
            "invalid_transition",
            refused.to_string(),
        ),
    }
}

/// An order's quantity goes down to its lines in plans, which hold at most
/// [`protocol::bounds::MAX_QTY`] in one quantity.
fn check_plan_qty(what: &str, qty: Decimal) -> Result<(), AppError> {
    protocol::bounds::check_qty(what, qty).map_err(|v| {
        AppError::bad_request(format!(
            "{v}; a work order goes down to its lines in a plan"
        ))
    })
}

/// Publishes the plan versions a change made to the waiting long polls.
fn notify<T>(state: &AppState, changed: Changed<T>) -> T {
    for plan in &changed.plans {
        state.notify_plan(&plan.edge_id, plan.version);
        tracing::info!(edge_id = %plan.edge_id, version = %plan.version, "published plan");
    }
    changed.value
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LineList {
    pub lines: Vec<Line>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutLine {
    #[serde(default)]
    pub description: String,
    /// The edge that runs the line (created with `POST /api/v1/edges`).
    pub edge_id: Option<String>,
    /// The plant it belongs to (`default` unless said).
    #[serde(default)]
    pub plant: Option<String>,
}

async fn put_line(
    AxumState(state): AxumState<AppState>,
    p: Principal,
    ApiPath(line): ApiPath<String>,
    ApiJson(body): ApiJson<PutLine>,
) -> Result<axum::Json<Line>, AppError> {
    check_id("line", &line)?;
    check_text("description", &body.description)?;
    if let Some(edge) = &body.edge_id {
        super::admin::validate_edge_id(&edge.as_str().into())?;
    }
    let plant = body
        .plant
        .unwrap_or_else(|| crate::people::plants::DEFAULT_PLANT.to_owned());
    check_id("plant", &plant)?;
    p.check_plant(&plant)?;
    if let Some(edge) = &body.edge_id {
        let edge_plants = state.store().plants_of(Record::Edge, edge.clone()).await?;
        if !p.may_see(&edge_plants, true) {
            return Err(AppError::not_found(format!("no edge {edge:?}")));
        }
        if !edge_plants.is_empty() && !edge_plants.contains(&plant) {
            return Err(AppError::bad_request(format!(
                "edge_id: edge {edge:?} serves plant {}, and line {line:?} is of plant {plant:?}; expected an edge of the line's plant (post /api/v1/edges with `plant`)",
                edge_plants.join(", ")
            )));
        }
    }
    let line = Line {
        line,
        description: body.description,
        edge_id: body.edge_id,
        plant,
    };
    let changed = state.store().put_line(line).await?.map_err(rejection)?;
    Ok(axum::Json(notify(&state, changed)))
}

async fn list_lines(
    AxumState(state): AxumState<AppState>,
    p: Principal,
) -> Result<axum::Json<LineList>, AppError> {
    let mut lines = state.store().lines().await?;
    lines.retain(|l| p.read.contains(&l.plant));
    Ok(axum::Json(LineList { lines }))
}

async fn get_line(
    AxumState(state): AxumState<AppState>,
    ApiPath(line): ApiPath<String>,
) -> Result<axum::Json<Line>, AppError> {
    state
        .store()
        .lines()
        .await?
        .into_iter()
        .find(|l| l.line == line)
        .map(axum::Json)
        .ok_or_else(|| {
            AppError::not_found(format!(
                "no line {line:?}; expected one created with put /api/v1/lines/{{id}}"
            ))
        })
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WorkCenterList {
    pub work_centers: Vec<WorkCenter>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutWorkCenter {
    #[serde(default)]
    pub description: String,
    pub line: String,
    pub station: Option<String>,
    #[serde(default)]
    pub hours_per_day: Option<Decimal>,
}

async fn put_work_center(
    AxumState(state): AxumState<AppState>,
    p: Principal,
    ApiPath(work_center): ApiPath<String>,
    ApiJson(body): ApiJson<PutWorkCenter>,
) -> Result<axum::Json<WorkCenter>, AppError> {
    check_id("work center", &work_center)?;
    check_text("description", &body.description)?;
    check_id("line", &body.line)?;
    if let Some(station) = &body.station {
        check_id("station", station)?;
    }
    if let Some(hours) = body.hours_per_day
        && (hours <= Decimal::ZERO || hours > Decimal::from(24) || hours.scale() > 2)
    {
        return Err(AppError::bad_request(format!(
            "hours_per_day {hours} is not valid; expected the hours it works a day, above 0 and at most 24, with at most 2 decimals"
        )));
    }
    p.check_plant(&plant_of_line(&state, &body.line).await?)?;
    let wc = WorkCenter {
        work_center,
        description: body.description,
        line: body.line,
        station: body.station,
        hours_per_day: body.hours_per_day.map(|h| h.normalize()),
    };
    let changed = state
        .store()
        .put_work_center(wc)
        .await?
        .map_err(rejection)?;
    Ok(axum::Json(notify(&state, changed)))
}

async fn list_work_centers(
    AxumState(state): AxumState<AppState>,
    p: Principal,
) -> Result<axum::Json<WorkCenterList>, AppError> {
    let plants = state.store().line_plants().await?;
    let mut work_centers = state.store().work_centers().await?;
    work_centers.retain(|wc| p.read.contains(plant_in(&plants, &wc.line)));
    Ok(axum::Json(WorkCenterList { work_centers }))
}

async fn get_work_center(
    AxumState(state): AxumState<AppState>,
    ApiPath(work_center): ApiPath<String>,
) -> Result<axum::Json<WorkCenter>, AppError> {
    state
        .store()
        .work_centers()
        .await?
        .into_iter()
        .find(|w| w.work_center == work_center)
        .map(axum::Json)
        .ok_or_else(|| {
            AppError::not_found(format!(
                "no work center {work_center:?}; expected one created with put /api/v1/work-centers/{{id}}"
            ))
        })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutRouting {
    pub operations: Vec<RoutingOperationBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingOperationBody {
    pub operation: u32,
    #[serde(default)]
    pub description: String,
    pub work_center: String,
    #[serde(default)]
    pub ideal_cycle_s: Option<rust_decimal::Decimal>,
}

async fn put_routing(
    AxumState(state): AxumState<AppState>,
    ApiPath(item): ApiPath<String>,
    ApiJson(body): ApiJson<PutRouting>,
) -> Result<axum::Json<Routing>, AppError> {
    check_id("item", &item)?;
    if body.operations.is_empty() || body.operations.len() > MAX_OPERATIONS {
        return Err(AppError::bad_request(format!(
            "routing of {item:?} has {} operations; expected 1 to {MAX_OPERATIONS}",
            body.operations.len()
        )));
    }
    let mut seen = BTreeSet::new();
    for (i, op) in body.operations.iter().enumerate() {
        if op.operation == 0 || op.operation > MAX_OPERATION {
            return Err(AppError::bad_request(format!(
                "operations[{i}]: operation {} is not valid; expected 1 to {MAX_OPERATION}",
                op.operation
            )));
        }
        if !seen.insert(op.operation) {
            return Err(AppError::bad_request(format!(
                "operations[{i}]: operation {} appears twice; expected each operation once",
                op.operation
            )));
        }
        check_text(&format!("operations[{i}].description"), &op.description)?;
        check_id(&format!("operations[{i}].work_center"), &op.work_center)?;
        if let Some(seconds) = op.ideal_cycle_s {
            crate::erp::routing_import::ideal_cycle_ms(seconds).map_err(|e| {
                AppError::bad_request(format!("operations[{i}].ideal_cycle_s: {e}"))
            })?;
        }
    }
    let routing = Routing {
        item,
        operations: body
            .operations
            .into_iter()
            .map(|op| RoutingOperation {
                operation: op.operation,
                description: op.description,
                work_center: op.work_center,
                ideal_cycle_s: op.ideal_cycle_s.map(|s| s.normalize()),
            })
            .collect(),
    };
    let routing = state
        .store()
        .put_routing(routing)
        .await?
        .map_err(rejection)?;
    // An operation's ideal cycle time is in the figures of the runs it made.
    state.oee_runs().clear();
    Ok(axum::Json(routing))
}

async fn get_routing(
    AxumState(state): AxumState<AppState>,
    ApiPath(item): ApiPath<String>,
) -> Result<axum::Json<Routing>, AppError> {
    state
        .store()
        .routing(item.clone())
        .await?
        .map(axum::Json)
        .ok_or_else(|| {
            AppError::not_found(format!(
                "item {item:?} has no routing; expected one set with put /api/v1/routings/{item}"
            ))
        })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkOrder {
    pub work_order: Option<String>,
    pub item: String,
    pub qty: Decimal,
    pub due: NaiveDate,
    /// Lower runs first; 0 if absent.
    #[serde(default)]
    pub priority: i32,
    pub line: String,
}

async fn create_work_order(
    AxumState(state): AxumState<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<CreateWorkOrder>,
) -> Result<(StatusCode, axum::Json<WorkOrderView>), AppError> {
    if let Some(id) = &body.work_order {
        check_id("work_order", id)?;
    }
    check_id("item", &body.item)?;
    check_id("line", &body.line)?;
    check_qty("qty", body.qty, true)?;
    check_plan_qty("qty", body.qty)?;
    p.check_plant(&plant_of_line(&state, &body.line).await?)?;
    let order = NewWorkOrder {
        work_order: body.work_order,
        item: body.item,
        qty: body.qty,
        due: body.due,
        priority: body.priority,
        line: body.line,
    };
    let view = state
        .store()
        .create_work_order(order, Utc::now())
        .await?
        .map_err(rejection)?;
    state.work_orders_changed();
    tracing::info!(work_order = %view.work_order, "created work order");
    Ok((StatusCode::CREATED, axum::Json(view)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderQuery {
    pub state: Option<State>,
    /// Only orders of this item.
    pub item: Option<String>,
    /// Only orders of this line.
    pub line: Option<String>,
    /// Only orders of this plant's lines.
    pub plant: Option<String>,
    /// Due on or after this day.
    pub due_from: Option<NaiveDate>,
    /// Due on or before this day.
    pub due_to: Option<NaiveDate>,
    /// Text found in the order's id or item, upper or lower case alike.
    pub q: Option<String>,
    /// Rows to skip (paging; 0 if absent).
    pub offset: Option<usize>,
    /// Most rows (at most [`MAX_LISTED_ORDERS`]); every row if absent.
    pub limit: Option<usize>,
}

/// Most rows one page of `GET /api/v1/work-orders` holds when `limit` is given.
pub const MAX_LISTED_ORDERS: usize = 1000;
/// Longest text search, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;

#[derive(Debug, Serialize, Deserialize)]
pub struct WorkOrderList {
    pub work_orders: Vec<WorkOrderSummary>,
    /// Orders that match the filters (before paging).
    #[serde(default)]
    pub total: usize,
    /// Orders that match the filters but `state`, per state (paging aside).
    #[serde(default)]
    pub counts: std::collections::BTreeMap<String, usize>,
    /// With `plant`: the delivery of the orders that match the filters but `state` (paging
    /// aside), as head office counts it ([`crate::erp::delivery`]; today is the plant's local
    /// date), so `?plant=&due_from=&due_to=` shows a period's output against plan and on-time
    /// orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<crate::erp::delivery::Delivery>,
}

async fn list_work_orders(
    AxumState(state): AxumState<AppState>,
    p: Principal,
    ApiQuery(query): ApiQuery<WorkOrderQuery>,
) -> Result<axum::Json<WorkOrderList>, AppError> {
    Ok(axum::Json(list(&state, &p, &query).await?))
}

/// The orders of the caller's plants that match the query, by id, with the counts per state:
/// what `GET /api/v1/work-orders` answers and the work orders page shows.
pub async fn list(
    state: &AppState,
    p: &Principal,
    query: &WorkOrderQuery,
) -> Result<WorkOrderList, AppError> {
    for (what, value) in [
        ("item", &query.item),
        ("line", &query.line),
        ("plant", &query.plant),
    ] {
        if let Some(v) = value {
            check_id(what, v)?;
        }
    }
    let needle = match &query.q {
        Some(q) if q.chars().count() > MAX_SEARCH_CHARS => {
            return Err(AppError::bad_request(format!(
                "q is {} characters long; expected at most {MAX_SEARCH_CHARS}",
                q.chars().count()
            )));
        }
        Some(q) => q.trim().to_lowercase(),
        None => String::new(),
    };
    if let Some(limit) = query.limit
        && (limit == 0 || limit > MAX_LISTED_ORDERS)
    {
        return Err(AppError::bad_request(format!(
            "limit {limit} is not valid; expected 1 to {MAX_LISTED_ORDERS}"
        )));
    }
    let plants = state.store().line_plants().await?;
    let mut work_orders = state.store().work_orders(None).await?;
    work_orders.retain(|wo| {
        let plant = plant_in(&plants, &wo.line);
        p.read.contains(plant)
            && query.plant.as_deref().is_none_or(|x| x == plant)
            && query.item.as_deref().is_none_or(|x| x == wo.item)
            && query.line.as_deref().is_none_or(|x| x == wo.line)
            && query.due_from.is_none_or(|d| wo.due >= d)
            && query.due_to.is_none_or(|d| wo.due <= d)
            && (needle.is_empty()
                || wo.work_order.to_lowercase().contains(&needle)
                || wo.item.to_lowercase().contains(&needle))
    });
    let mut counts = std::collections::BTreeMap::new();
    for wo in &work_orders {
        let n: &mut usize = counts.entry(wo.state.as_str().to_owned()).or_default();
        *n = n.saturating_add(1);
    }
    let delivery = match &query.plant {
        Some(plant) => {
            use crate::erp::delivery::{DueOrder, delivery};
            let tz = super::floor::plant_time_zone(state, plant).await?;
            let due: Vec<DueOrder> = work_orders
                .iter()
                .map(|o| DueOrder {
                    qty: o.qty,
                    due: o.due,
                    state: o.state,
                    good: o.good,
                    completed_at: o.completed_at,
                })
                .collect();
            Some(delivery(
                &due,
                tz,
                Utc::now().with_timezone(&tz).date_naive(),
            ))
        }
        None => None,
    };
    if let Some(wanted) = query.state {
        work_orders.retain(|wo| wo.state == wanted);
    }
    let total = work_orders.len();
    let offset = query.offset.unwrap_or(0).min(total);
    let limit = query.limit.unwrap_or(total);
    let work_orders = work_orders.into_iter().skip(offset).take(limit).collect();
    Ok(WorkOrderList {
        work_orders,
        total,
        counts,
        delivery,
    })
}

/// The lines of the caller's plants, by name (the work orders page's choice of line).
pub async fn visible_lines(state: &AppState, p: &Principal) -> Result<Vec<String>, AppError> {
    let mut lines: Vec<String> = state
        .store()
        .lines()
        .await?
        .into_iter()
        .filter(|l| p.read.contains(&l.plant))
        .map(|l| l.line)
        .collect();
    lines.sort();
    Ok(lines)
}

/// The plant of a line from [`crate::store::PeopleStore::line_plants`]; a line central does
/// not know (yet) is the default plant's, as the store's record rules count it.
pub(super) fn plant_in<'a>(
    plants: &'a std::collections::HashMap<String, String>,
    line: &str,
) -> &'a str {
    plants
        .get(line)
        .map_or(crate::people::plants::DEFAULT_PLANT, String::as_str)
}

/// The plant of one line (the default plant for a line central does not know).
async fn plant_of_line(state: &AppState, line: &str) -> Result<String, AppError> {
    let plants = state.store().line_plants().await?;
    Ok(plant_in(&plants, line).to_owned())
}

async fn get_work_order(
    AxumState(state): AxumState<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<WorkOrderView>, AppError> {
    state
        .store()
        .work_order(id.clone())
        .await?
        .map(axum::Json)
        .ok_or_else(|| rejection(no_order(&id)))
}

fn no_order(id: &str) -> WoRejection {
    WoRejection::NotFound(format!(
        "no work order {id:?}; expected one created with post /api/v1/work-orders"
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeWorkOrder {
    pub qty: Option<Decimal>,
    pub priority: Option<i32>,
    pub due: Option<NaiveDate>,
}

/// `PATCH /api/v1/work-orders/{id}`: quantity, priority, due date. A dispatched order goes
/// down to its edges as a new plan version.
async fn change_work_order(
    AxumState(state): AxumState<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeWorkOrder>,
) -> Result<axum::Json<WorkOrderView>, AppError> {
    if let Some(qty) = body.qty {
        check_qty("qty", qty, true)?;
        check_plan_qty("qty", qty)?;
    }
    if body.qty.is_none() && body.priority.is_none() && body.due.is_none() {
        return Err(AppError::bad_request(
            "the change is empty; expected at least one of qty, priority, due",
        ));
    }
    let change = WorkOrderChange {
        qty: body.qty,
        priority: body.priority,
        due: body.due,
    };
    let changed = state
        .store()
        .change_work_order(id, change, Utc::now())
        .await?
        .map_err(rejection)?;
    state.work_orders_changed();
    Ok(axum::Json(notify(&state, changed)))
}

/// `POST /api/v1/work-orders/{id}/{release|hold|unhold|cancel|close}`.
async fn work_order_action(
    AxumState(state): AxumState<AppState>,
    p: Principal,
    ApiPath(id): ApiPath<String>,
    action: Action,
) -> Result<axum::Json<WorkOrderView>, AppError> {
    let by = p
        .login()
        .unwrap_or(crate::people::users::BOOTSTRAP_ADMIN)
        .to_owned();
    let changed = state
        .store()
        .work_order_action(id, action, by, Utc::now())
        .await?
        .map_err(rejection)?;
    state.work_orders_changed();
    let view = notify(&state, changed);
    tracing::info!(work_order = %view.work_order, state = %view.state, "work order {action}");
    Ok(axum::Json(view))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UnmatchedList {
    pub work_orders: Vec<UnmatchedOrder>,
}

async fn unmatched(
    AxumState(state): AxumState<AppState>,
) -> Result<axum::Json<UnmatchedList>, AppError> {
    Ok(axum::Json(UnmatchedList {
        work_orders: state.store().unmatched_work_orders().await?,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldLot {
    pub reason: String,
    /// Needed only for a lot the stock ledger does not know.
    pub item: Option<String>,
}

/// `POST /api/v1/lots/{lot}/hold`: the lot goes down as held to the lines whose orders use
/// its item.
async fn hold_lot(
    AxumState(state): AxumState<AppState>,
    ApiPath(lot): ApiPath<String>,
    ApiJson(body): ApiJson<HoldLot>,
) -> Result<(StatusCode, axum::Json<LotHold>), AppError> {
    check_id("lot", &lot)?;
    if body.reason.trim().is_empty() {
        return Err(AppError::bad_request(
            "reason is empty; expected why the lot is held, as the operator is told",
        ));
    }
    check_text("reason", &body.reason)?;
    if let Some(item) = &body.item {
        check_id("item", item)?;
    }
    let changed = state
        .store()
        .hold_lot(lot, body.item, body.reason, Utc::now())
        .await?
        .map_err(rejection)?;
    Ok((StatusCode::CREATED, axum::Json(notify(&state, changed))))
}

async fn release_lot(
    AxumState(state): AxumState<AppState>,
    ApiPath(lot): ApiPath<String>,
) -> Result<axum::Json<LotHold>, AppError> {
    let changed = state.store().release_lot(lot).await?.map_err(rejection)?;
    Ok(axum::Json(notify(&state, changed)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetLotExpiry {
    /// The last day the lot may be used (`YYYY-MM-DD`).
    pub expires: NaiveDate,
    /// Needed only for a lot the stock ledger does not know.
    pub item: Option<String>,
}

/// `POST /api/v1/lots/{lot}/expiry`: a supplier-given expiry date, which overrides the one
/// computed from the first receipt and the item's shelf life. The lines whose orders use the
/// lot's item get a new plan version.
async fn set_lot_expiry(
    AxumState(state): AxumState<AppState>,
    ApiPath(lot): ApiPath<String>,
    ApiJson(body): ApiJson<SetLotExpiry>,
) -> Result<axum::Json<LotExpiry>, AppError> {
    check_id("lot", &lot)?;
    if let Some(item) = &body.item {
        check_id("item", item)?;
    }
    let changed = state
        .store()
        .set_lot_expiry(lot, body.item, body.expires, Utc::now())
        .await?
        .map_err(rejection)?;
    Ok(axum::Json(notify(&state, changed)))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LotHoldList {
    pub holds: Vec<LotHold>,
}

async fn lot_holds(
    AxumState(state): AxumState<AppState>,
) -> Result<axum::Json<LotHoldList>, AppError> {
    Ok(axum::Json(LotHoldList {
        holds: state.store().lot_holds().await?,
    }))
}

/// Adds these routes and their schemas to the OpenAPI document ([`super::openapi`]).
pub fn document_into(document: &mut serde_json::Value) {
    use serde_json::json;
    let error = json!({"$ref": "#/components/responses/Error"});
    let conflict = json!({"description": "refused by the state machine (invalid_transition: the message names the current state and the action) or an id taken (conflict)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let path_param = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}});
    let body = |schema: &str| json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let ok = |schema: &str| json!({"description": "ok", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let list = |key: &str, schema: &str| json!({"description": "ok", "content": {"application/json": {"schema": {"type": "object", "properties": {key: {"type": "array", "items": {"$ref": format!("#/components/schemas/{schema}")}}}}}}});
    let action = |name: &str, what: &str| {
        json!({"post": {"summary": format!("{name} a work order"), "description": what, "tags": ["work orders"],
            "parameters": [path_param("id")],
            "responses": {"200": ok("WorkOrder"), "400": error, "401": error, "404": error, "409": conflict}}})
    };
    let paths = json!({
        "/api/v1/lines": {"get": {"summary": "every line", "tags": ["shop floor"], "responses": {"200": list("lines", "Line"), "401": error}}},
        "/api/v1/lines/{line}": {
            "get": {"summary": "a line", "tags": ["shop floor"], "parameters": [path_param("line")], "responses": {"200": ok("Line"), "401": error, "404": error}},
            "put": {"summary": "create or replace a line and the edge that runs it", "tags": ["shop floor"], "parameters": [path_param("line")],
                "requestBody": body("LineBody"), "responses": {"200": ok("Line"), "400": error, "401": error}}},
        "/api/v1/work-centers": {"get": {"summary": "every work center", "tags": ["shop floor"], "responses": {"200": list("work_centers", "WorkCenter"), "401": error}}},
        "/api/v1/work-centers/{work_center}": {
            "get": {"summary": "a work center", "tags": ["shop floor"], "parameters": [path_param("work_center")], "responses": {"200": ok("WorkCenter"), "401": error, "404": error}},
            "put": {"summary": "create or replace a work center: its line and the station id the edge knows it by", "tags": ["shop floor"], "parameters": [path_param("work_center")],
                "requestBody": body("WorkCenterBody"), "responses": {"200": ok("WorkCenter"), "400": error, "401": error}}},
        "/api/v1/routings/{item}": {
            "get": {"summary": "an item's routing", "tags": ["shop floor"], "parameters": [path_param("item")], "responses": {"200": ok("Routing"), "401": error, "404": error}},
            "put": {"summary": "replace an item's routing", "description": "Operations 1 to 99999, each once; every work center must exist. Existing work orders keep the routing they were created with.",
                "tags": ["shop floor"], "parameters": [path_param("item")],
                "requestBody": body("RoutingBody"), "responses": {"200": ok("Routing"), "400": error, "401": error}}},
        "/api/v1/work-orders": {
            "get": {"summary": "work orders", "tags": ["work orders"],
                "description": "The orders of the caller's plants, by id. `total` counts the orders the filters match, `counts` those per state (every filter but `state`); `offset` and `limit` page the rows. With `plant`, `delivery` is head office's delivery of the orders the filters match but `state` (see `GET /api/v1/floor/plants`): orders due, planned and good quantity, output against plan, on time, late, open past due, not yet due and the on-time rate, today being the plant's local date.",
                "parameters": [{"name": "state", "in": "query", "required": false, "schema": {"$ref": "#/components/schemas/WorkOrderState"}},
                    {"name": "item", "in": "query", "required": false, "schema": {"type": "string"}},
                    {"name": "line", "in": "query", "required": false, "schema": {"type": "string"}},
                    {"name": "plant", "in": "query", "required": false, "schema": {"type": "string"}},
                    {"name": "due_from", "in": "query", "required": false, "schema": {"type": "string", "format": "date"}},
                    {"name": "due_to", "in": "query", "required": false, "schema": {"type": "string", "format": "date"}},
                    {"name": "q", "in": "query", "required": false, "schema": {"type": "string", "maxLength": MAX_SEARCH_CHARS}, "description": "text in the order's id or item, either case"},
                    {"name": "offset", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}},
                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LISTED_ORDERS}, "description": "every row if absent"}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "work_orders": {"type": "array", "items": {"$ref": "#/components/schemas/WorkOrderSummary"}},
                    "total": {"type": "integer"}, "counts": {"type": "object", "additionalProperties": {"type": "integer"}}}}}}}, "400": error, "401": error}},
            "post": {"summary": "create a planned work order", "description": "Operations are copied from the item's routing, components from its BOM (required = qty_per × qty × (1 + scrap_pct/100)); later master-data changes leave the order alone.",
                "tags": ["work orders"], "requestBody": body("NewWorkOrder"),
                "responses": {"201": ok("WorkOrder"), "400": error, "401": error, "409": conflict}}},
        "/api/v1/work-orders/{id}": {
            "get": {"summary": "a work order: state, good and scrap per operation, material issued against required with variances, the plan versions it went down in", "tags": ["work orders"],
                "parameters": [path_param("id")], "responses": {"200": ok("WorkOrder"), "401": error, "404": error}},
            "patch": {"summary": "change quantity, priority or due date", "description": "Allowed while planned, released, in_progress or on_hold; a dispatched order goes down to its edges as a new plan version.",
                "tags": ["work orders"], "parameters": [path_param("id")], "requestBody": body("WorkOrderChange"),
                "responses": {"200": ok("WorkOrder"), "400": error, "401": error, "404": error, "409": conflict}}},
        "/api/v1/work-orders/{id}/release": action("release", "planned → released; publishes a new plan version for the edges of the order's lines. The line needs an edge."),
        "/api/v1/work-orders/{id}/hold": action("hold", "released or in_progress → on_hold; the order stays in the plan, marked on_hold."),
        "/api/v1/work-orders/{id}/unhold": action("unhold", "on_hold → the state it was held from; a new plan version."),
        "/api/v1/work-orders/{id}/cancel": action("cancel", "planned, released, in_progress or on_hold → cancelled; a dispatched order leaves the plan (a new version). Progress stays."),
        "/api/v1/work-orders/{id}/close": action("close", "completed → closed."),
        "/api/v1/unmatched-work-orders": {"get": {"summary": "work order ids edges reported that central does not know, with the number of events", "tags": ["work orders"],
            "responses": {"200": list("work_orders", "UnmatchedWorkOrder"), "401": error}}},
        "/api/v1/lots/{lot}/hold": {"post": {"summary": "put a lot on quality hold", "description": "Every edge whose orders use the lot's item gets a new plan version listing the lot as held, so it refuses the lot even while central is unreachable.",
            "tags": ["work orders"], "parameters": [path_param("lot")], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}, "item": {"type": "string", "description": "needed only for a lot the stock ledger does not know"}}}}}},
            "responses": {"201": ok("LotHold"), "400": error, "401": error}}},
        "/api/v1/lots/{lot}/release": {"post": {"summary": "lift a lot's hold (a new plan version for the edges whose orders use its item)", "tags": ["work orders"], "parameters": [path_param("lot")],
            "responses": {"200": ok("LotHold"), "401": error, "404": error}}},
        "/api/v1/lots/{lot}/expiry": {"post": {"summary": "set a lot's expiry date (a supplier's date)", "description": "Overrides the computed expiry (first receipt date plus the item's shelf_life_days). The edges whose orders use the lot's item get a new plan version carrying the date, and refuse the lot from the day after, even while central is unreachable.",
            "tags": ["work orders"], "parameters": [path_param("lot")], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["expires"], "properties": {"expires": {"type": "string", "format": "date", "description": "the last day the lot may be used"}, "item": {"type": "string", "description": "needed only for a lot the stock ledger does not know"}}}}}},
            "responses": {"200": ok("LotExpiry"), "400": error, "401": error}}},
        "/api/v1/import/routings": {"post": {"summary": "import routings from csv, all or nothing", "tags": ["shop floor"],
            "description": "Header line, then rows. Columns: `item,operation,description,work_center` (description optional). Replaces the whole routing of every item named; items and work centers must exist.",
            "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
            "responses": {"200": {"description": "{\"kind\": \"routings\", \"rows\": N}"}, "400": {"$ref": "#/components/responses/InvalidCsv"}, "401": error}}},
        "/api/v1/lot-holds": {"get": {"summary": "held lots", "tags": ["work orders"], "responses": {"200": list("holds", "LotHold"), "401": error}}}
    });
    let state = json!({"type": "string", "enum": State::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()});
    let dec = json!({"type": "string", "description": "exact decimal"});
    let work_order = json!({"type": "object", "properties": {
            "work_order": {"type": "string"}, "item": {"type": "string"}, "qty": dec, "uom": {"type": "string"}, "due": {"type": "string", "format": "date"},
            "priority": {"type": "integer"}, "line": {"type": "string"}, "state": state, "held_from": {"type": "string", "nullable": true},
            "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
            "operations": {"type": "array", "items": {"type": "object", "properties": {"operation": {"type": "integer"}, "description": {"type": "string"}, "work_center": {"type": "string"},
                "station": {"type": "string", "nullable": true}, "started": {"type": "boolean"}, "good": {"type": "integer"}, "scrap": {"type": "integer"}}}},
            "components": {"type": "array", "items": {"type": "object", "properties": {"item": {"type": "string"}, "uom": {"type": "string"}, "qty_per": dec, "scrap_pct": dec,
                "required": dec, "issued": dec, "variance": {"type": "string", "description": "issued − required"},
                "standard_for_output": {"type": "string", "description": "qty_per × (good + scrap at the last operation) × (1 + scrap_pct/100)"},
                "usage_variance": {"type": "string", "description": "issued − standard_for_output"}, "unplanned": {"type": "boolean", "description": "issued but not in the order's BOM"},
                "problem": {"type": "string", "description": "present when a figure overflows what a quantity holds (only counts or issues booked before central bounded events can); the figures are then saturated"}}}},
            "plans": {"type": "array", "items": {"type": "object", "properties": {"edge_id": {"type": "string"}, "version": {"type": "integer", "description": "latest plan version of this edge that carried the order"},
                "edge_applied": {"type": "integer", "description": "the version the edge reports it runs"}, "running": {"type": "boolean"}}}},
            "stations": {"type": "array", "description": "the stations that run the order right now, per their edges' last status; reported_at says how fresh each is",
                "items": {"type": "object", "required": ["edge_id", "station", "good", "scrap", "over_production", "counting", "reported_at", "edge_clock"], "properties": {
                "edge_id": {"type": "string"}, "station": {"type": "string"}, "operation": {"type": "integer"}, "by": {"type": "string", "enum": ["scan", "plan"]},
                "good": {"type": "integer", "description": "the order's good parts counted on that edge, as it reported them"}, "scrap": {"type": "integer"},
                "over_production": {"type": "boolean"}, "counting": {"type": "boolean"},
                "reported_at": {"type": "string", "format": "date-time", "description": "when central received the status"},
                "edge_clock": {"type": "string", "format": "date-time", "description": "the edge's clock when it sent the status"}}}},
            "warnings": {"type": "array", "items": {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}, "edge_id": {"type": "string"}, "seq": {"type": "integer"}, "message": {"type": "string"}}},
                "description": "what edge events did not fit (an operation started out of sequence, an event the state refuses), newest first, at most 100"},
            "n_warnings": {"type": "integer"}}});
    let schemas = json!({
        "WorkOrderState": state,
        "Line": {"type": "object", "required": ["line", "description"], "properties": {"line": {"type": "string"}, "description": {"type": "string"}, "edge_id": {"type": "string", "nullable": true}}},
        "LineBody": {"type": "object", "properties": {"description": {"type": "string"}, "edge_id": {"type": "string", "nullable": true, "description": "an edge created with post /api/v1/edges"}}},
        "WorkCenter": {"type": "object", "required": ["work_center", "line"], "properties": {"work_center": {"type": "string"}, "description": {"type": "string"}, "line": {"type": "string"}, "station": {"type": "string", "nullable": true}, "hours_per_day": {"type": "string", "description": "hours it works on a working day (all shifts), above 0, at most 24: capable-to-promise plans routings on it; absent: items made here are promised by their lead time"}}},
        "WorkCenterBody": {"type": "object", "required": ["line"], "properties": {"description": {"type": "string"}, "line": {"type": "string"}, "station": {"type": "string", "nullable": true, "description": "the station id of the edge's sources"}, "hours_per_day": {"type": "string", "description": "hours it works on a working day (all shifts), above 0, at most 24: capable-to-promise plans routings on it; absent: items made here are promised by their lead time"}}},
        "RoutingOperation": {"type": "object", "required": ["operation", "work_center"], "properties": {"operation": {"type": "integer", "minimum": 1, "maximum": MAX_OPERATION}, "description": {"type": "string"}, "work_center": {"type": "string"}, "ideal_cycle_s": {"type": "string", "description": "planned run time per unit in seconds (ISO 22400 PRI), more than 0, at most 86400, to the millisecond; OEE's performance measures against it, and capable-to-promise plans with it"}}},
        "Routing": {"type": "object", "required": ["item", "operations"], "properties": {"item": {"type": "string"}, "operations": {"type": "array", "items": {"$ref": "#/components/schemas/RoutingOperation"}}}},
        "RoutingBody": {"type": "object", "required": ["operations"], "properties": {"operations": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/RoutingOperation"}}}},
        "NewWorkOrder": {"type": "object", "required": ["item", "qty", "due", "line"], "properties": {
            "work_order": {"type": "string", "description": "WO-000001, … when absent"}, "item": {"type": "string"}, "qty": dec,
            "due": {"type": "string", "format": "date"}, "priority": {"type": "integer", "description": "lower runs first; 0 if absent"}, "line": {"type": "string"}}},
        "WorkOrderChange": {"type": "object", "properties": {"qty": dec, "priority": {"type": "integer"}, "due": {"type": "string", "format": "date"}}},
        "WorkOrderSummary": {"type": "object", "properties": {"work_order": {"type": "string"}, "item": {"type": "string"}, "qty": dec, "due": {"type": "string", "format": "date"},
            "priority": {"type": "integer"}, "line": {"type": "string"}, "state": state, "good": {"type": "integer", "description": "at the last operation"}, "scrap": {"type": "integer"},
            "completed_at": {"type": "string", "format": "date-time", "description": "when the edge reported it completed (work_order_completed's time); absent while not completed"}}},
        "WorkOrder": work_order,
        "UnmatchedWorkOrder": {"type": "object", "properties": {"work_order": {"type": "string"}, "events": {"type": "integer"}, "last_edge_id": {"type": "string"}, "last_at": {"type": "string", "format": "date-time"}}},
        "LotHold": {"type": "object", "properties": {"lot": {"type": "string"}, "item": {"type": "string"}, "reason": {"type": "string"}, "held_at": {"type": "string", "format": "date-time"}}},
        "LotExpiry": {"type": "object", "properties": {"lot": {"type": "string"}, "item": {"type": "string"}, "expires": {"type": "string", "format": "date"}, "set_at": {"type": "string", "format": "date-time"}}}
    });
    super::openapi::extend(document, &paths, &schemas);
}

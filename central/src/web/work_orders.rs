//! The work order pages: `/work-orders` (the list with filters, counts per state, paging) and
//! `/work-orders/{id}` (one order: progress per operation, the plans that carried it and the
//! edges that run it, material issued against the BOM per component and lot, lots produced,
//! the timeline of its edge events, its quality holds). Rendered from the functions the API
//! answers with: [`crate::api::work_orders::list`], `GET /api/v1/work-orders/{id}`,
//! [`crate::api::trace::timeline`] and `GET /api/v1/work-orders/{id}/lots`.
//!
//! Release, hold, unhold, cancel and close are buttons only for someone with the permission;
//! the script posts them to the API (`/api/v1/work-orders/{id}/{action}`), which decides.

use super::{Ctx, Shell, T, ctx_shell, ctx_t, encode, query_value};
use crate::api::AppState;
use crate::api::error::AppError;
use crate::api::policy::{Principal, Routes, needs};
use crate::api::trace::TimelineQuery;
use crate::api::work_orders::WorkOrderQuery;
use crate::erp::work_order::State as WoState;
use crate::people::roles::Permission;
use crate::store::people::Record;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

/// Rows one page of the list shows.
pub const PAGE_ROWS: usize = 50;

pub fn routes() -> Routes {
    use Permission::WorkOrdersRead;
    Routes::new()
        .get("/work-orders", needs(WorkOrdersRead), list_page)
        .get(
            "/work-orders/{id}",
            needs(WorkOrdersRead).on(Record::WorkOrder, "id"),
            order_page,
        )
}

/// The catalogue key of an order state.
pub fn state_key(state: WoState) -> &'static str {
    match state {
        WoState::Planned => "wo_planned",
        WoState::Released => "wo_released",
        WoState::InProgress => "wo_in_progress",
        WoState::OnHold => "wo_on_hold",
        WoState::Completed => "wo_completed",
        WoState::Closed => "wo_closed",
        WoState::Cancelled => "wo_cancelled",
    }
}

/// `part / whole` for a `<meter>`, 0 to 1.
fn share(part: u64, whole: Decimal) -> f64 {
    let whole: f64 = whole.try_into().unwrap_or(0.0);
    if whole <= 0.0 {
        return 0.0;
    }
    (part as f64 / whole).clamp(0.0, 1.0)
}

fn qty_text(q: Decimal) -> String {
    q.normalize().to_string()
}

// ---------------------------------------------------------------------------------------------
// The list

pub struct OrderRow {
    pub work_order: String,
    pub href: String,
    pub item: String,
    pub line: String,
    pub qty: String,
    pub good: u64,
    pub scrap: u64,
    pub done: f64,
    pub due: String,
    pub overdue: bool,
    pub state: &'static str,
    pub state_key: &'static str,
}

pub struct StateCount {
    pub state: &'static str,
    pub key: &'static str,
    pub count: usize,
    pub href: String,
    pub current: bool,
}

pub struct Choice {
    pub value: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "work_orders.html")]
struct ListPage {
    t: T,
    shell: Shell,
    rows: Vec<OrderRow>,
    states: Vec<StateCount>,
    all_href: String,
    state: String,
    item: String,
    q: String,
    due_from: String,
    due_to: String,
    lines: Vec<Choice>,
    plants: Vec<Choice>,
    total: usize,
    first: usize,
    last: usize,
    range_text: String,
    prev_href: Option<String>,
    next_href: Option<String>,
    api_href: String,
    csv_href: String,
    /// With a plant chosen: the delivery of the orders listed (head office's figures).
    delivery: Option<DeliveryLine>,
}

/// The delivery of the orders a plant's list holds, as head office shows it.
pub struct DeliveryLine {
    pub due: u64,
    pub planned_qty: String,
    pub good: u64,
    pub output_vs_plan: String,
    pub on_time: u64,
    pub late: u64,
    pub open_past_due: u64,
    pub not_yet_due: u64,
    pub on_time_rate: String,
}

/// The list's query from the page's address: the API's parameters, with an empty field (a
/// form sent as it was) read as absent.
fn list_query(uri: &Uri) -> Result<(WorkOrderQuery, Vec<(String, String)>), AppError> {
    let mut kept = Vec::new();
    let mut get = |name: &str| -> Option<String> {
        let v = query_value(uri, name).filter(|v| !v.trim().is_empty())?;
        kept.push((name.to_owned(), v.clone()));
        Some(v)
    };
    let date = |name: &str, v: Option<String>| -> Result<Option<NaiveDate>, AppError> {
        v.map(|v| {
            NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|e| {
                AppError::bad_request(format!("{name}: {v:?} is not a date (YYYY-MM-DD): {e}"))
            })
        })
        .transpose()
    };
    let state = match get("state") {
        None => None,
        Some(s) => Some(
            WoState::ALL
                .iter()
                .copied()
                .find(|x| x.as_str() == s)
                .ok_or_else(|| AppError::bad_request(format!("state: no state {s:?}")))?,
        ),
    };
    let item = get("item");
    let line = get("line");
    let plant = get("plant");
    let due_from = date("due_from", get("due_from"))?;
    let due_to = date("due_to", get("due_to"))?;
    let q = get("q");
    let offset = match query_value(uri, "offset").filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| {
            AppError::bad_request(format!("offset: {v:?} is not a whole number of 0 or more"))
        })?,
    };
    Ok((
        WorkOrderQuery {
            state,
            item,
            line,
            plant,
            due_from,
            due_to,
            q,
            offset: Some(offset),
            limit: Some(PAGE_ROWS),
        },
        kept,
    ))
}

fn href(path: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

async fn list_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/work-orders");
    let (query, kept) = list_query(&uri)?;
    let list = crate::api::work_orders::list(&state, &p, &query).await?;
    let today = Utc::now().date_naive();
    let without = |name: &str| -> Vec<(String, String)> {
        kept.iter().filter(|(k, _)| k != name).cloned().collect()
    };
    let rows = list
        .work_orders
        .iter()
        .map(|wo| OrderRow {
            href: format!("/work-orders/{}", encode(&wo.work_order)),
            work_order: wo.work_order.clone(),
            item: wo.item.clone(),
            line: wo.line.clone(),
            qty: qty_text(wo.qty),
            good: wo.good,
            scrap: wo.scrap,
            done: share(wo.good, wo.qty),
            due: wo.due.to_string(),
            overdue: wo.due < today
                && matches!(
                    wo.state,
                    WoState::Planned | WoState::Released | WoState::InProgress | WoState::OnHold
                ),
            state: wo.state.as_str(),
            state_key: state_key(wo.state),
        })
        .collect();
    let states = WoState::ALL
        .iter()
        .map(|s| {
            let mut pairs = without("state");
            pairs.push(("state".into(), s.as_str().into()));
            StateCount {
                state: s.as_str(),
                key: state_key(*s),
                count: list.counts.get(s.as_str()).copied().unwrap_or(0),
                href: href("/work-orders", &pairs),
                current: query.state == Some(*s),
            }
        })
        .collect();
    let offset = query.offset.unwrap_or(0).min(list.total);
    let page_at = |at: usize| {
        let mut pairs = without("offset");
        if at > 0 {
            pairs.push(("offset".into(), at.to_string()));
        }
        href("/work-orders", &pairs)
    };
    let shown = list.work_orders.len();
    let first = if shown == 0 { 0 } else { offset + 1 };
    let lines_in_scope = crate::api::work_orders::visible_lines(&state, &p).await?;
    let plants = state
        .store()
        .plants()
        .await?
        .into_iter()
        .filter(|x| p.read.contains(&x.plant))
        .map(|x| Choice {
            selected: query.plant.as_deref() == Some(x.plant.as_str()),
            value: x.plant,
        })
        .collect();
    let api_pairs: Vec<(String, String)> = without("offset");
    let page = ListPage {
        t: ctx_t(&ctx),
        shell: ctx_shell(&ctx),
        rows,
        states,
        all_href: href("/work-orders", &without("state")),
        state: query
            .state
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        item: query.item.clone().unwrap_or_default(),
        q: query.q.clone().unwrap_or_default(),
        due_from: query.due_from.map(|d| d.to_string()).unwrap_or_default(),
        due_to: query.due_to.map(|d| d.to_string()).unwrap_or_default(),
        lines: lines_in_scope
            .into_iter()
            .map(|l| Choice {
                selected: query.line.as_deref() == Some(l.as_str()),
                value: l,
            })
            .collect(),
        plants,
        range_text: ctx
            .t
            .t("wo_range")
            .replace("{first}", &first.to_string())
            .replace("{last}", &(offset + shown).to_string())
            .replace("{total}", &list.total.to_string()),
        total: list.total,
        first,
        last: offset + shown,
        prev_href: (offset > 0).then(|| page_at(offset.saturating_sub(PAGE_ROWS))),
        next_href: (offset + shown < list.total).then(|| page_at(offset + shown)),
        csv_href: href("/api/v1/work-orders.csv", &api_pairs),
        api_href: href("/api/v1/work-orders", &api_pairs),
        delivery: list.delivery.as_ref().map(|d| DeliveryLine {
            due: d.due,
            planned_qty: d.planned_qty.normalize().to_string(),
            good: d.good,
            output_vs_plan: super::pct(d.output_vs_plan),
            on_time: d.on_time,
            late: d.late,
            open_past_due: d.open_past_due,
            not_yet_due: d.not_yet_due,
            on_time_rate: super::pct(d.on_time_rate),
        }),
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

// ---------------------------------------------------------------------------------------------
// One order

pub struct OperationRow {
    pub operation: u32,
    pub description: String,
    pub work_center: String,
    pub station: String,
    pub started: bool,
    pub good: u64,
    pub scrap: u64,
    pub done: f64,
    pub scrapped: f64,
}

pub struct PlanRow {
    pub edge_id: String,
    pub version: u64,
    pub edge_applied: u64,
    pub running: bool,
}

pub struct StationRow {
    pub edge_id: String,
    pub station: String,
    pub operation: String,
    pub good: u64,
    pub scrap: u64,
    pub reported_at: String,
}

pub struct ComponentRow {
    pub item: String,
    pub uom: String,
    pub qty_per: String,
    pub required: String,
    pub standard_for_output: String,
    pub issued: String,
    pub variance: String,
    pub over: bool,
    pub usage_variance: String,
    pub unplanned: bool,
    pub problem: String,
    /// The lots issued of it: `(lot, qty, href to its trace)`.
    pub lots: Vec<(String, String, String)>,
}

pub struct LotRow {
    pub lot: String,
    pub item: String,
    pub qty: String,
    pub uom: String,
    pub href: String,
}

pub struct HoldRow {
    pub lot: String,
    pub item: String,
    pub reason: String,
    pub held_at: String,
    pub href: String,
}

pub struct TimelineRow {
    pub at: String,
    pub edge_id: String,
    pub seq: u64,
    pub kind: String,
    pub key: &'static str,
    pub what: String,
}

/// A change people made to the order (from the audit trail): when, what, and who (for those
/// who may read the audit trail).
pub struct OfficeRow {
    pub at: String,
    pub what: String,
    pub who: String,
}

/// Most office changes the page lists, newest first.
pub const MAX_OFFICE_ROWS: usize = 20;

/// What one audit entry of the order's row changed, in the page's words.
fn office_change(
    t: &T,
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
) -> String {
    let field = |v: Option<&serde_json::Value>, name: &str| -> String {
        match v.and_then(|v| v.get(name)) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    };
    let state_name = |s: &str| -> String {
        WoState::ALL
            .iter()
            .find(|x| x.as_str() == s)
            .map_or_else(|| s.to_owned(), |x| t.t(state_key(*x)).to_owned())
    };
    if before.is_none() {
        return format!(
            "{} ({})",
            t.t("wo_created"),
            state_name(&field(after, "state"))
        );
    }
    let mut parts = Vec::new();
    let (from, to) = (field(before, "state"), field(after, "state"));
    if from != to {
        parts.push(format!("{} → {}", state_name(&from), state_name(&to)));
    }
    for (name, key) in [
        ("qty", "wo_qty"),
        ("due", "wo_due"),
        ("priority", "wo_priority"),
    ] {
        let (from, to) = (field(before, name), field(after, name));
        if from != to {
            parts.push(format!("{} {from} → {to}", t.t(key)));
        }
    }
    parts.join(" · ")
}

pub struct ActionButton {
    pub action: &'static str,
    pub key: &'static str,
}

#[derive(Template)]
#[template(path = "work_order.html")]
struct OrderPage {
    t: T,
    shell: Shell,
    work_order: String,
    item: String,
    qty: String,
    uom: String,
    due: String,
    priority: i32,
    line: String,
    state: &'static str,
    state_key: &'static str,
    held_from_key: Option<&'static str>,
    good: u64,
    scrap: u64,
    done: f64,
    created: String,
    updated: String,
    operations: Vec<OperationRow>,
    plans: Vec<PlanRow>,
    stations: Vec<StationRow>,
    components: Vec<ComponentRow>,
    produced: Vec<LotRow>,
    holds: Vec<HoldRow>,
    warnings: Vec<(String, String)>,
    n_warnings: u64,
    timeline: Vec<TimelineRow>,
    office: Vec<OfficeRow>,
    newer_href: Option<String>,
    older_href: Option<String>,
    actions: Vec<ActionButton>,
    api_href: String,
}

/// The catalogue key of a timeline entry's kind.
fn kind_key(kind: &str) -> &'static str {
    match kind {
        "work_order_started" => "ev_started",
        "work_order_paused" => "ev_paused",
        "work_order_completed" => "ev_completed",
        "production_reported" => "ev_counted",
        "material_issued" => "ev_issued",
        "lot_produced" => "ev_lot_produced",
        "measurement" => "ev_measured",
        _ => "ev_other",
    }
}

/// What a timeline entry says, in figures and ids (the same in both languages).
fn describe(t: &T, event: &serde_json::Value) -> String {
    let text = |name: &str| -> String {
        match event.get(name) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    };
    let mut parts = Vec::new();
    let operation = text("operation");
    if !operation.is_empty() {
        parts.push(format!("{} {operation}", t.t("wo_operation")));
    }
    match event.get("type").and_then(|v| v.as_str()).unwrap_or("") {
        "production_reported" => {
            parts.push(format!("{} {}", t.t("good"), text("good")));
            parts.push(format!("{} {}", t.t("scrap"), text("scrap")));
        }
        "material_issued" | "lot_produced" => {
            parts.push(format!(
                "{} {} {} {}",
                text("item"),
                text("lot"),
                text("qty"),
                text("uom")
            ));
        }
        "measurement" => {
            parts.push(format!("{} = {}", text("characteristic"), text("value")));
        }
        _ => {}
    }
    parts.join(" · ")
}

async fn order_page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/work-orders");
    let t = ctx_t(&ctx);
    let view = state.store().work_order(id.clone()).await?.ok_or_else(|| {
        AppError::not_found(format!(
            "no work order {id:?}; expected one created with post /api/v1/work-orders"
        ))
    })?;
    let lots = state
        .store()
        .order_lots(id.clone())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no work order {id:?}")))?;
    let before_at = query_value(&uri, "before_at")
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| AppError::bad_request(format!("before_at: {v:?}: {e}")))
        })
        .transpose()?;
    let before_seq = query_value(&uri, "before_seq")
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| AppError::bad_request(format!("before_seq: {v:?} is not a seq")))
        })
        .transpose()?;
    let timeline_query = TimelineQuery {
        before_at,
        before_edge: query_value(&uri, "before_edge"),
        before_seq,
        limit: None,
    };
    let timeline = crate::api::trace::timeline(&state, &id, &timeline_query).await?;
    let page_path = format!("/work-orders/{}", encode(&id));
    let may_audit = p.can(Permission::AuditRead);
    let office: Vec<OfficeRow> = state
        .store()
        .audit(crate::store::AuditQuery {
            entity: Some("wo_orders".into()),
            entity_id: Some(id.clone()),
            order: crate::store::audit::AuditOrder::Desc,
            limit: MAX_OFFICE_ROWS,
            ..Default::default()
        })
        .await?
        .into_iter()
        .filter_map(|e| {
            let what = office_change(&t, e.before.as_ref(), e.after.as_ref());
            (!what.is_empty()).then(|| OfficeRow {
                at: t.time(&e.at),
                what,
                who: if may_audit { e.actor } else { String::new() },
            })
        })
        .collect();
    let last = view.operations.last();
    let (good, scrap) = last.map_or((0, 0), |o| (o.good, o.scrap));
    let trace_href = |lot: &str| format!("/trace/{}", encode(lot));
    let components = view
        .components
        .iter()
        .map(|c| ComponentRow {
            item: c.item.clone(),
            uom: c.uom.clone(),
            qty_per: qty_text(c.qty_per),
            required: qty_text(c.required),
            standard_for_output: qty_text(c.standard_for_output),
            issued: qty_text(c.issued),
            variance: qty_text(c.variance),
            over: c.variance > Decimal::ZERO,
            usage_variance: qty_text(c.usage_variance),
            unplanned: c.unplanned,
            problem: c.problem.clone().unwrap_or_default(),
            lots: lots
                .issued
                .iter()
                .filter(|l| l.item == c.item)
                .map(|l| {
                    (
                        l.lot.clone(),
                        format!(
                            "{} {}",
                            l.qty.map_or_else(|| "–".to_owned(), qty_text),
                            l.uom
                        ),
                        trace_href(&l.lot),
                    )
                })
                .collect(),
        })
        .collect();
    let mut actions = Vec::new();
    let can_release = p.can(Permission::WorkOrdersRelease);
    let can_close = p.can(Permission::WorkOrdersClose);
    let mut offer = |ok: bool, action: &'static str, key: &'static str| {
        if ok {
            actions.push(ActionButton { action, key });
        }
    };
    match view.state {
        WoState::Planned => offer(can_release, "release", "do_release"),
        WoState::Released | WoState::InProgress => offer(can_release, "hold", "do_hold"),
        WoState::OnHold => offer(can_release, "unhold", "do_unhold"),
        WoState::Completed => offer(can_close, "close", "do_close"),
        WoState::Closed | WoState::Cancelled => {}
    }
    if matches!(
        view.state,
        WoState::Planned | WoState::Released | WoState::InProgress | WoState::OnHold
    ) {
        offer(can_close, "cancel", "do_cancel");
    }
    let older_href = timeline.next.as_ref().map(|c| {
        format!(
            "{page_path}?before_at={}&before_edge={}&before_seq={}#timeline",
            encode(&c.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            encode(&c.edge_id),
            c.seq
        )
    });
    let page = OrderPage {
        work_order: view.work_order.clone(),
        item: view.item.clone(),
        qty: qty_text(view.qty),
        uom: view.uom.clone(),
        due: view.due.to_string(),
        priority: view.priority,
        line: view.line.clone(),
        state: view.state.as_str(),
        state_key: state_key(view.state),
        held_from_key: view.held_from.map(state_key),
        good,
        scrap,
        done: share(good, view.qty),
        created: t.time(&view.created_at),
        updated: t.time(&view.updated_at),
        operations: view
            .operations
            .iter()
            .map(|o| OperationRow {
                operation: o.operation,
                description: o.description.clone(),
                work_center: o.work_center.clone(),
                station: o.station.clone().unwrap_or_default(),
                started: o.started,
                good: o.good,
                scrap: o.scrap,
                done: share(o.good, view.qty),
                scrapped: share(o.scrap, view.qty),
            })
            .collect(),
        plans: view
            .plans
            .iter()
            .map(|x| PlanRow {
                edge_id: x.edge_id.clone(),
                version: x.version,
                edge_applied: x.edge_applied,
                running: x.running,
            })
            .collect(),
        stations: view
            .stations
            .iter()
            .map(|s| StationRow {
                edge_id: s.edge_id.clone(),
                station: s.station.clone(),
                operation: s.operation.map(|o| o.to_string()).unwrap_or_default(),
                good: s.good,
                scrap: s.scrap,
                reported_at: t.time(&s.reported_at),
            })
            .collect(),
        components,
        produced: lots
            .produced
            .iter()
            .map(|l| LotRow {
                lot: l.lot.clone(),
                item: l.item.clone(),
                qty: l.qty.map_or_else(|| "–".to_owned(), qty_text),
                uom: l.uom.clone(),
                href: trace_href(&l.lot),
            })
            .collect(),
        holds: lots
            .holds
            .iter()
            .map(|h| HoldRow {
                lot: h.lot.clone(),
                item: h.item.clone(),
                reason: h.reason.clone(),
                held_at: t.time(&h.held_at),
                href: trace_href(&h.lot),
            })
            .collect(),
        warnings: view
            .warnings
            .iter()
            .map(|w| (t.time(&w.at), w.message.clone()))
            .collect(),
        n_warnings: view.n_warnings,
        timeline: timeline
            .entries
            .iter()
            .map(|e| TimelineRow {
                at: t.time(&e.at),
                edge_id: e.edge_id.clone(),
                seq: e.seq,
                kind: e.kind.clone(),
                key: kind_key(&e.kind),
                what: describe(&t, &e.event),
            })
            .collect(),
        office,
        newer_href: timeline_query
            .before_at
            .is_some()
            .then(|| format!("{page_path}#timeline")),
        older_href,
        actions,
        api_href: format!("/api/v1/work-orders/{}", encode(&id)),
        shell: ctx_shell(&ctx),
        t,
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

//! ERP routes: CSV import of master data, the working calendar, the MRP run, and firming a
//! stored run's planned orders into work orders. All need the admin token.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery, CsvBody};
use super::policy::{Principal, Routes, needs};
use super::validate::check_id;
use crate::erp::calendar::{Calendar, CalendarSpec};
use crate::erp::import::{self, ImportKind};
use crate::erp::mrp::{self, MrpError, MrpInput, Pegging};
use crate::people::roles::Permission;
use crate::store::ImportSummary;
use crate::store::mrp::{FirmRequest, FirmSelection, Firmed, Requisitions, StoredRun};
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;

pub fn routes() -> Routes {
    use Permission::*;
    let mut routes = Routes::new();
    for kind in ImportKind::ALL {
        // Stock counts and receipts are the warehouse's; demands feed MRP; the rest is
        // master data.
        let permission = match kind {
            ImportKind::Inventory => InventoryWrite,
            ImportKind::Demands | ImportKind::Receipts => MrpRun,
            _ => MasterDataWrite,
        };
        routes = routes.post(
            kind.path(),
            needs(permission),
            move |state: State<AppState>, p: Principal, body: CsvBody| {
                import_csv(state, p, kind, body)
            },
        );
    }
    routes
        .post("/api/v1/mrp/run", needs(MrpRun), run_mrp)
        .get("/api/v1/mrp/runs/{run}", needs(MrpRead), get_run)
        .post("/api/v1/mrp/runs/{run}/firm", needs(MrpFirm), firm)
        .get(
            "/api/v1/mrp/runs/{run}/requisitions",
            needs(MrpRead),
            requisitions,
        )
        .get("/api/v1/calendar", needs(MasterDataRead), get_calendar)
        .put("/api/v1/calendar", needs(MasterDataWrite), put_calendar)
}

fn task_failed(e: tokio::task::JoinError) -> AppError {
    AppError::internal(format!("central's worker task failed: {e}"))
}

/// The record rule on a file's rows: stock counted at, or locations added to, a warehouse of
/// another plant are refused, each row named (the file is applied whole or not at all).
async fn check_plants(
    state: &AppState,
    p: &Principal,
    batch: &import::ImportBatch,
) -> Result<(), AppError> {
    use crate::store::people::Record;
    let rows: Vec<(u64, Record, &str, &'static str)> = match batch {
        import::ImportBatch::Inventory(rows) => rows
            .iter()
            .map(|l| {
                (
                    l.line,
                    Record::Location,
                    l.row.location.as_str(),
                    "location",
                )
            })
            .collect(),
        import::ImportBatch::Locations(rows) => rows
            .iter()
            .flat_map(|l| {
                [
                    (
                        l.line,
                        Record::Warehouse,
                        l.row.warehouse.as_str(),
                        "warehouse",
                    ),
                    (
                        l.line,
                        Record::Location,
                        l.row.location.as_str(),
                        "location",
                    ),
                ]
            })
            .collect(),
        _ => return Ok(()),
    };
    if p.write == crate::people::users::PlantScope::All {
        return Ok(());
    }
    let mut plants_of = std::collections::HashMap::new();
    let mut refused = Vec::new();
    for (line, record, id, column) in rows {
        if let std::collections::hash_map::Entry::Vacant(slot) = plants_of.entry((record, id)) {
            slot.insert(state.store().plants_of(record, id.to_owned()).await?);
        }
        let plants = &plants_of[&(record, id)];
        if !p.may_see(plants, true) {
            refused.push(import::RowError::new(
                line,
                column,
                format!(
                    "{column} {id:?} is of plant {}, not one of yours",
                    plants.join(", ")
                ),
            ));
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        let total = refused.len();
        Err(AppError::invalid_csv(refused, total))
    }
}

/// `POST /api/v1/import/{kind}`: a CSV file, applied whole or not at all.
async fn import_csv(
    State(state): State<AppState>,
    p: Principal,
    kind: ImportKind,
    CsvBody(body): CsvBody,
) -> Result<axum::Json<ImportSummary>, AppError> {
    let batch = tokio::task::spawn_blocking(move || import::parse(kind, &body))
        .await
        .map_err(task_failed)?
        .map_err(|(rows, total)| AppError::invalid_csv(rows, total))?;
    check_plants(&state, &p, &batch).await?;
    match state.store().import(batch).await? {
        Ok(summary) => {
            tracing::info!(kind = kind.as_str(), rows = summary.rows, "imported csv");
            Ok(axum::Json(summary))
        }
        Err(rows) => {
            let total = rows.len();
            Err(AppError::invalid_csv(rows, total))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MrpQuery {
    /// Planning date; today (UTC) if absent.
    pub as_of: Option<NaiveDate>,
    /// `single` (default) or `full`.
    pub pegging: Option<Pegging>,
}

/// `POST /api/v1/mrp/run`: a regenerative run over the stored master data.
async fn run_mrp(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<MrpQuery>,
) -> Result<Response, AppError> {
    let data = state.store().master_data().await?;
    let calendar = Calendar::from_spec(&data.calendar)
        .map_err(|e| AppError::internal(format!("the stored calendar is invalid: {e}")))?;
    let input = MrpInput {
        pegging: query.pegging.unwrap_or_default(),
        as_of: query
            .as_of
            .unwrap_or_else(|| chrono::Utc::now().date_naive()),
        calendar,
        items: data.items,
        bom: data.bom,
        on_hand: data.on_hand,
        demands: data.demands,
        receipts: data.receipts,
        supplier_items: data.supplier_items,
    };
    let as_of = input.as_of;
    let started = std::time::Instant::now();
    let plan = tokio::task::spawn_blocking(move || mrp::run(&input))
        .await
        .map_err(task_failed)?
        .map_err(mrp_error)?;
    let n_orders = plan.planned_orders.len();
    let planned_ms = started.elapsed().as_millis() as u64;
    let plan = state
        .store()
        .save_mrp_run(plan, as_of, chrono::Utc::now())
        .await?;
    let run = plan.run.unwrap_or_default();
    let json = tokio::task::spawn_blocking(move || serde_json::to_vec(&plan))
        .await
        .map_err(task_failed)?
        .map_err(|e| AppError::internal(format!("cannot encode the plan: {e}")))?;
    tracing::info!(run, planned_orders = n_orders, ms = planned_ms, "mrp run");
    Ok(([(CONTENT_TYPE, "application/json")], json).into_response())
}

fn mrp_error(error: MrpError) -> AppError {
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "mrp_failed",
        format!("mrp cannot plan the stored master data: {error}"),
    )
}

async fn get_calendar(State(state): State<AppState>) -> Result<axum::Json<CalendarSpec>, AppError> {
    Ok(axum::Json(state.store().calendar().await?))
}

/// `PUT /api/v1/calendar`: replaces the working calendar.
async fn put_calendar(
    State(state): State<AppState>,
    ApiJson(spec): ApiJson<CalendarSpec>,
) -> Result<axum::Json<CalendarSpec>, AppError> {
    let calendar = Calendar::from_spec(&spec).map_err(|e| AppError::bad_request(e.to_string()))?;
    let spec = calendar.spec();
    state.store().set_calendar(spec.clone()).await?;
    Ok(axum::Json(spec))
}

fn no_run(run: u64) -> AppError {
    AppError::not_found(format!(
        "no mrp run {run}; expected a run made by post /api/v1/mrp/run (central keeps the latest {})",
        crate::store::mrp::MAX_STORED_RUNS
    ))
}

/// `GET /api/v1/mrp/runs/{run}`: a stored run's plan and what of it was firmed.
async fn get_run(
    State(state): State<AppState>,
    ApiPath(run): ApiPath<u64>,
) -> Result<axum::Json<StoredRun>, AppError> {
    state
        .store()
        .mrp_run(run)
        .await?
        .map(axum::Json)
        .ok_or_else(|| no_run(run))
}

/// Most planned orders one firming names.
pub const MAX_FIRM_ORDERS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmBody {
    /// References of the run's planned orders (`PLN-000001`, …).
    #[serde(default)]
    pub planned_orders: Option<Vec<String>>,
    /// Every make planned order of the run.
    #[serde(default)]
    pub all: bool,
    /// The line the work orders go to; by default that of the routing's first work center.
    #[serde(default)]
    pub line: Option<String>,
    #[serde(default)]
    pub priority: i32,
}

/// `POST /api/v1/mrp/runs/{run}/firm`: planned orders become work orders (state planned),
/// all or none; a planned order firmed before answers its work order again.
async fn firm(
    State(state): State<AppState>,
    ApiPath(run): ApiPath<u64>,
    ApiJson(body): ApiJson<FirmBody>,
) -> Result<axum::Json<Firmed>, AppError> {
    let selection = match (body.all, body.planned_orders) {
        (true, None) => FirmSelection::All,
        (false, Some(refs)) if !refs.is_empty() && refs.len() <= MAX_FIRM_ORDERS => {
            for r in &refs {
                check_id("planned order", r)?;
            }
            FirmSelection::Some(refs)
        }
        (false, Some(refs)) if !refs.is_empty() => {
            return Err(AppError::bad_request(format!(
                "planned_orders names {} orders; expected at most {MAX_FIRM_ORDERS} (or \"all\": true)",
                refs.len()
            )));
        }
        _ => {
            return Err(AppError::bad_request(
                "expected either \"planned_orders\": [references…] (at least one) or \"all\": true",
            ));
        }
    };
    if let Some(line) = &body.line {
        check_id("line", line)?;
    }
    let request = FirmRequest {
        selection,
        line: body.line,
        priority: body.priority,
    };
    let firmed = state
        .store()
        .firm(run, request, chrono::Utc::now())
        .await?
        .map_err(super::work_orders::rejection)?;
    let created = firmed.firmed.iter().filter(|f| f.created).count();
    if created > 0 {
        state.work_orders_changed();
    }
    tracing::info!(
        run,
        created,
        again = firmed.firmed.len() - created,
        "firmed planned orders"
    );
    Ok(axum::Json(firmed))
}

/// `GET /api/v1/mrp/runs/{run}/requisitions`: the run's purchased items to buy.
async fn requisitions(
    State(state): State<AppState>,
    ApiPath(run): ApiPath<u64>,
) -> Result<axum::Json<Requisitions>, AppError> {
    state
        .store()
        .requisitions(run)
        .await?
        .map(axum::Json)
        .ok_or_else(|| no_run(run))
}

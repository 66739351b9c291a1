//! ERP routes: CSV import of master data, the working calendar, and the MRP run. All need the
//! admin token.

use super::AppState;
use super::error::AppError;
use super::extract::{AdminAuth, ApiJson, ApiPath, ApiQuery, CsvBody};
use crate::erp::calendar::{Calendar, CalendarSpec};
use crate::erp::import::{self, ImportKind};
use crate::erp::mrp::{self, MrpError, MrpInput, Pegging};
use crate::store::ImportSummary;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/import/{kind}", post(import_csv))
        .route("/api/v1/mrp/run", post(run_mrp))
        .route("/api/v1/calendar", get(get_calendar).put(put_calendar))
}

fn task_failed(e: tokio::task::JoinError) -> AppError {
    AppError::internal(format!("central's worker task failed: {e}"))
}

/// `POST /api/v1/import/{kind}`: a CSV file, applied whole or not at all.
async fn import_csv(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(kind): ApiPath<String>,
    CsvBody(body): CsvBody,
) -> Result<axum::Json<ImportSummary>, AppError> {
    let kind = ImportKind::parse(&kind).ok_or_else(|| {
        AppError::not_found(format!(
            "no import kind {kind:?}; expected one of {}, routings",
            ImportKind::list()
        ))
    })?;
    let batch = tokio::task::spawn_blocking(move || import::parse(kind, &body))
        .await
        .map_err(task_failed)?
        .map_err(|(rows, total)| AppError::invalid_csv(rows, total))?;
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
    _: AdminAuth,
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
    let started = std::time::Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        mrp::run(&input).map(|plan| (plan.planned_orders.len(), serde_json::to_vec(&plan)))
    })
    .await
    .map_err(task_failed)?;
    let (n_orders, json) = result.map_err(mrp_error)?;
    let json = json.map_err(|e| AppError::internal(format!("cannot encode the plan: {e}")))?;
    tracing::info!(
        planned_orders = n_orders,
        ms = started.elapsed().as_millis() as u64,
        "mrp run"
    );
    Ok(([(CONTENT_TYPE, "application/json")], json).into_response())
}

fn mrp_error(error: MrpError) -> AppError {
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "mrp_failed",
        format!("mrp cannot plan the stored master data: {error}"),
    )
}

async fn get_calendar(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<axum::Json<CalendarSpec>, AppError> {
    Ok(axum::Json(state.store().calendar().await?))
}

/// `PUT /api/v1/calendar`: replaces the working calendar.
async fn put_calendar(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiJson(spec): ApiJson<CalendarSpec>,
) -> Result<axum::Json<CalendarSpec>, AppError> {
    let calendar = Calendar::from_spec(&spec).map_err(|e| AppError::bad_request(e.to_string()))?;
    let spec = calendar.spec();
    state.store().set_calendar(spec.clone()).await?;
    Ok(axum::Json(spec))
}

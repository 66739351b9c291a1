//! Inventory and genealogy routes, from the ledger that ingest books
//! ([`crate::store::inventory`]). All need the admin token.

use super::AppState;
use super::error::AppError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::policy::{Principal, Routes, needs};
use crate::people::roles::Permission;
use crate::store::inventory::{
    Direction, Genealogy, InventoryFilter, LedgerEntry, OnHandRow, ReversalRejection,
};
use crate::store::people::Record;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most rows one `GET /api/v1/inventory/ledger` returns, whatever `limit` asks for.
pub const MAX_LEDGER_ROWS: usize = 10_000;

pub fn routes() -> Routes {
    use Permission::{InventoryRead, InventoryReverse};
    Routes::new()
        .get("/api/v1/inventory", needs(InventoryRead), on_hand)
        .get("/api/v1/inventory/ledger", needs(InventoryRead), ledger)
        .post(
            "/api/v1/inventory/reversals",
            needs(InventoryReverse),
            reverse,
        )
        .get(
            "/api/v1/genealogy/{lot}",
            needs(InventoryRead).on(Record::Lot, "lot"),
            genealogy,
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryQuery {
    pub item: Option<String>,
    pub lot: Option<String>,
    pub location: Option<String>,
    /// A moment (RFC 3339, event time, inclusive); absent: everything booked so far.
    pub at: Option<DateTime<Utc>>,
    /// Ledger only: most rows (default and cap [`MAX_LEDGER_ROWS`]).
    pub limit: Option<usize>,
}

impl InventoryQuery {
    fn filter(self) -> InventoryFilter {
        InventoryFilter {
            item: self.item,
            lot: self.lot,
            location: self.location,
            at: self.at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OnHandReply {
    pub at: DateTime<Utc>,
    pub on_hand: Vec<OnHandRow>,
}

/// `GET /api/v1/inventory?item&lot&location&at`: on-hand by item, lot and location.
async fn on_hand(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<InventoryQuery>,
) -> Result<axum::Json<OnHandReply>, AppError> {
    if query.limit.is_some() {
        return Err(AppError::bad_request(
            "limit applies to /api/v1/inventory/ledger only",
        ));
    }
    // Without `at`, every entry counts, also one whose edge clock runs ahead of central's.
    let at = query.at.unwrap_or_else(Utc::now);
    let on_hand = state.store().on_hand(query.filter()).await?;
    Ok(axum::Json(OnHandReply { at, on_hand }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LedgerReply {
    pub entries: Vec<LedgerEntry>,
}

/// `GET /api/v1/inventory/ledger?item&lot&location&at&limit`: ledger rows in entry order.
async fn ledger(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<InventoryQuery>,
) -> Result<axum::Json<LedgerReply>, AppError> {
    let limit = query.limit.unwrap_or(MAX_LEDGER_ROWS).min(MAX_LEDGER_ROWS);
    let entries = state.store().ledger(query.filter(), limit).await?;
    Ok(axum::Json(LedgerReply { entries }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReversalRequest {
    pub entry_id: i64,
    /// Why (kept on the reversal row).
    pub note: Option<String>,
}

/// `POST /api/v1/inventory/reversals {entry_id, note}` → 201 the reversal entry.
async fn reverse(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(request): ApiJson<ReversalRequest>,
) -> Result<(StatusCode, axum::Json<LedgerEntry>), AppError> {
    let entry_id = request.entry_id;
    // The record rule on a body's id: an entry of another plant is one that does not exist.
    let plants = state
        .store()
        .plants_of(Record::LedgerEntry, entry_id.to_string())
        .await?;
    if !p.may_see(&plants, true) {
        return Err(AppError::not_found(format!("no ledger entry {entry_id}")));
    }
    match state
        .store()
        .reverse_entry(entry_id, request.note, Utc::now())
        .await?
    {
        Ok(entry) => Ok((StatusCode::CREATED, axum::Json(entry))),
        Err(ReversalRejection::AlreadyReversed { by }) => Err(AppError::new(
            StatusCode::CONFLICT,
            "already_reversed",
            format!("ledger entry {entry_id} was already reversed by entry {by}"),
        )),
        Err(ReversalRejection::IsReversal) => Err(AppError::new(
            StatusCode::CONFLICT,
            "is_reversal",
            format!(
                "ledger entry {entry_id} is a reversal; expected an entry booked from an event"
            ),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenealogyQuery {
    /// `backward` (default: what the lot was made of) or `forward` (what was made of it).
    pub direction: Option<Direction>,
}

/// `GET /api/v1/genealogy/{lot}?direction=backward|forward`.
async fn genealogy(
    State(state): State<AppState>,
    ApiPath(lot): ApiPath<String>,
    ApiQuery(query): ApiQuery<GenealogyQuery>,
) -> Result<axum::Json<Genealogy>, AppError> {
    let direction = query.direction.unwrap_or_default();
    Ok(axum::Json(state.store().genealogy(lot, direction).await?))
}

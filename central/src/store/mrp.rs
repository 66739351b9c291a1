//! Stored MRP runs and firming: a run's planned orders are kept, so that a planner can firm
//! them into work orders (one, several or all) and buy its purchase requisitions.
//!
//! **Architecture Invariant:** a planned order of a run is firmed at most once: the work
//! order it became is recorded with it in the same transaction that creates the order, and
//! firming it again answers that work order (`created: false`) without making another.

use super::StoreError;
use super::work_orders::WoResult;
use crate::erp::mrp::MrpPlan;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// How many runs central keeps; storing a run removes the oldest beyond this many (with
/// their firming records; the work orders stay).
pub const MAX_STORED_RUNS: u64 = 50;

/// A stored run: its plan (with `run` and `as_of` set) and what of it was firmed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRun {
    #[serde(flatten)]
    pub plan: MrpPlan,
    pub created_at: DateTime<Utc>,
    /// Planned orders firmed so far, in the order they were firmed.
    pub firmed: Vec<FirmedOrder>,
}

/// Which planned orders of a run to firm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirmSelection {
    /// Every `make` planned order (the `buy` ones are requisitions, listed as skipped).
    All,
    /// These references; a `buy` one is refused.
    Some(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmRequest {
    pub selection: FirmSelection,
    /// The line the work orders go to; by default the line of the work center of the first
    /// operation of the item's routing.
    pub line: Option<String>,
    pub priority: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmedOrder {
    pub planned_order: String,
    pub work_order: String,
    /// `false` when the planned order had been firmed before (the same work order).
    pub created: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedOrder {
    pub planned_order: String,
    pub reason: String,
}

/// What one firming did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firmed {
    pub run: u64,
    pub firmed: Vec<FirmedOrder>,
    /// With `all`: the purchase requisitions, which are bought, not made.
    pub skipped: Vec<SkippedOrder>,
}

/// A purchased item's planned order, as a buyer needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Requisition {
    pub planned_order: String,
    pub item: String,
    #[serde(serialize_with = "crate::erp::mrp::qty_number")]
    pub qty: rust_decimal::Decimal,
    pub uom: String,
    /// When the material must be there (the planned order's due date).
    pub need_date: NaiveDate,
    /// When it must be ordered (due date less the supplier's or item's lead time).
    pub order_by: NaiveDate,
    /// `order_by` is before the run's planning date.
    pub late: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_late: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    pub pegged_to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Requisitions {
    pub run: u64,
    pub as_of: NaiveDate,
    pub requisitions: Vec<Requisition>,
}

#[async_trait]
pub trait MrpStore: Send + Sync + 'static {
    /// Stores a run's plan (as [`crate::erp::mrp::run`] made it, planned on `as_of`) and
    /// returns it with its run number and planning date set.
    async fn save_mrp_run(
        &self,
        plan: MrpPlan,
        as_of: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<MrpPlan, StoreError>;

    /// A stored run; `None` if there is none by that number (or it was removed).
    async fn mrp_run(&self, run: u64) -> Result<Option<StoredRun>, StoreError>;

    /// Creates a work order (state `planned`: release it to send it down) from each selected
    /// `make` planned order not firmed before, in one transaction, or none: a planned order
    /// that cannot become a work order (no routing, no line) refuses the request, naming it.
    async fn firm(&self, run: u64, request: FirmRequest, now: DateTime<Utc>) -> WoResult<Firmed>;

    /// The run's `buy` planned orders.
    async fn requisitions(&self, run: u64) -> Result<Option<Requisitions>, StoreError>;
}

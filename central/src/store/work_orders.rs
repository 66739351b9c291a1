//! The shop-floor part of the store: lines (mapped to edges), work centers (on a line, at a
//! station), routings, work orders and their progress, and lot holds.
//!
//! **Architecture Invariant:** a work order's progress (good and scrap per operation,
//! material issued, the state that `work_order_started`/`work_order_completed` move) is
//! written inside [`super::Store::ingest_encoded`]'s transaction, from events stored by that
//! call only, so a redelivered batch never counts twice. Events naming an order central does
//! not know are stored as always and counted per order id as unmatched.
//!
//! A change that the lines must see (a release; a change of quantity, priority, due date or
//! hold of a dispatched order; a cancellation; a completion reported by ingest; a lot hold,
//! release or expiry date) publishes, in the same transaction, a new plan version for every
//! edge concerned, holding all of its lines' released, in-progress and held orders, the
//! GTINs of their components, and those components' held lots and lots in stock with an
//! expiry date (at most [`crate::erp::work_order::MAX_PLAN_LOTS`]). The API wakes the edges'
//! long polls after the commit.

use super::StoreError;
use crate::erp::import::{Line as CsvLine, RowError};
use crate::erp::routing_import::RoutingRow;
use crate::erp::work_order::{Action, Refused, State};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use protocol::Plan;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub line: String,
    #[serde(default)]
    pub description: String,
    /// The edge agent that runs this line; `None` until one is assigned.
    #[serde(default)]
    pub edge_id: Option<String>,
    /// The plant the line belongs to (its rules go down with the line's plans).
    #[serde(default = "default_plant")]
    pub plant: String,
}

fn default_plant() -> String {
    crate::people::plants::DEFAULT_PLANT.to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkCenter {
    pub work_center: String,
    #[serde(default)]
    pub description: String,
    /// The line it stands on (a line created with `PUT /api/v1/lines/{id}`).
    pub line: String,
    /// The station id the edge knows it by (the `station` of the edge's sources).
    #[serde(default)]
    pub station: Option<String>,
    /// The hours it works on a working day (all its shifts): what capable-to-promise plans
    /// routings on. Absent: items made on it are promised by their lead time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours_per_day: Option<rust_decimal::Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingOperation {
    pub operation: u32,
    #[serde(default)]
    pub description: String,
    pub work_center: String,
    /// Planned run time per unit (ISO 22400's PRI), seconds: what OEE's performance measures
    /// against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ideal_cycle_s: Option<rust_decimal::Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    pub item: String,
    /// Ascending operation numbers.
    pub operations: Vec<RoutingOperation>,
}

/// A new work order. Operations are copied from the item's routing and components from its
/// BOM when it is created, so later master-data changes leave it alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewWorkOrder {
    /// `WO-000001`, … when absent.
    pub work_order: Option<String>,
    pub item: String,
    pub qty: Decimal,
    pub due: NaiveDate,
    pub priority: i32,
    pub line: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkOrderChange {
    pub qty: Option<Decimal>,
    pub priority: Option<i32>,
    pub due: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationView {
    pub operation: u32,
    pub description: String,
    pub work_center: String,
    pub station: Option<String>,
    pub started: bool,
    pub good: u64,
    pub scrap: u64,
}

/// Material of one component: what the order needs, what was issued, and the variances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentView {
    pub item: String,
    pub uom: String,
    pub qty_per: Decimal,
    pub scrap_pct: Decimal,
    /// `qty_per × order qty × (1 + scrap % / 100)`.
    pub required: Decimal,
    pub issued: Decimal,
    /// `issued − required`: above 0, more than planned went in.
    pub variance: Decimal,
    /// `qty_per × (good + scrap at the last operation) × (1 + scrap % / 100)`: what the
    /// output so far should have used.
    pub standard_for_output: Decimal,
    /// `issued − standard_for_output` (the usage variance).
    pub usage_variance: Decimal,
    /// Issued, but not in the order's BOM.
    pub unplanned: bool,
    /// Set when a figure overflows what a quantity holds (only data booked before central
    /// bounded events can do that); the figures are then saturated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A plan version an order went down in, and whether its edge runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlan {
    pub edge_id: String,
    /// The latest plan version of this edge that carried the order.
    pub version: u64,
    /// The version the edge last reported it runs.
    pub edge_applied: u64,
    /// `edge_applied >= version`.
    pub running: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderWarning {
    pub at: DateTime<Utc>,
    /// The event that raised it.
    pub edge_id: String,
    pub seq: u64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkOrderView {
    pub work_order: String,
    pub item: String,
    pub qty: Decimal,
    pub uom: String,
    pub due: NaiveDate,
    pub priority: i32,
    pub line: String,
    pub state: State,
    /// For an order on hold: the state `unhold` returns to.
    pub held_from: Option<State>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub operations: Vec<OperationView>,
    pub components: Vec<ComponentView>,
    pub plans: Vec<OrderPlan>,
    /// The stations that run the order right now, per their edges' last status (each with
    /// the time central received it).
    #[serde(default)]
    pub stations: Vec<crate::store::OrderStation>,
    /// The latest [`MAX_LISTED_WARNINGS`], newest first.
    pub warnings: Vec<OrderWarning>,
    pub n_warnings: u64,
}

/// Most warnings one order view lists.
pub const MAX_LISTED_WARNINGS: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkOrderSummary {
    pub work_order: String,
    pub item: String,
    pub qty: Decimal,
    pub due: NaiveDate,
    pub priority: i32,
    pub line: String,
    pub state: State,
    /// Good and scrap at the last operation (the order's output).
    pub good: u64,
    pub scrap: u64,
    /// When it was completed: the time of the edge's `work_order_completed` (orders completed
    /// before central kept it: their last change's). `None` while not completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

/// An order id edges reported that central does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedOrder {
    pub work_order: String,
    pub events: u64,
    pub last_edge_id: String,
    pub last_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotHold {
    pub lot: String,
    pub item: String,
    pub reason: String,
    pub held_at: DateTime<Utc>,
}

/// A lot's expiry date as set through the API (a supplier's date), which overrides the one
/// computed from its first receipt and the item's shelf life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotExpiry {
    pub lot: String,
    pub item: String,
    /// The last day the lot may be used.
    pub expires: NaiveDate,
    pub set_at: DateTime<Utc>,
}

/// A change that was made, and the plan versions it published (to wake the edges' polls).
#[derive(Debug, Clone, PartialEq)]
pub struct Changed<T> {
    pub value: T,
    pub plans: Vec<Plan>,
}

/// Why a request was refused for its data (not for the store's failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WoRejection {
    /// The thing named in the path does not exist.
    NotFound(String),
    /// The request names something that does not exist or is not valid.
    Invalid(String),
    /// The id is taken.
    Conflict(String),
    /// The state machine refused the action.
    Refused(Refused),
    /// The release waits on an approval (the `work_order_release` workflow): why, naming the
    /// request. The order is released when it is approved.
    AwaitingApproval(String),
}

pub type WoResult<T> = Result<Result<T, WoRejection>, StoreError>;

#[async_trait]
pub trait WorkOrderStore: Send + Sync + 'static {
    /// Creates or replaces a line. `edge_id`, when given, must be a known edge.
    /// A change of edge publishes new plan versions for the old and the new edge.
    async fn put_line(&self, line: Line) -> WoResult<Changed<Line>>;
    async fn lines(&self) -> Result<Vec<Line>, StoreError>;

    /// Creates or replaces a work center; its line must exist.
    /// A change of line or station publishes new plan versions for the edges concerned.
    async fn put_work_center(&self, work_center: WorkCenter) -> WoResult<Changed<WorkCenter>>;
    async fn work_centers(&self) -> Result<Vec<WorkCenter>, StoreError>;

    /// Replaces an item's routing; the item and every work center must exist.
    async fn put_routing(&self, routing: Routing) -> WoResult<Routing>;
    async fn routing(&self, item: String) -> Result<Option<Routing>, StoreError>;

    /// Replaces the routing of every item the rows name, in one transaction, or nothing:
    /// `Ok(Err(rows))` names every row whose item or work center does not exist.
    async fn import_routings(
        &self,
        rows: Vec<CsvLine<RoutingRow>>,
    ) -> Result<Result<usize, Vec<RowError>>, StoreError>;

    async fn create_work_order(
        &self,
        order: NewWorkOrder,
        now: DateTime<Utc>,
    ) -> WoResult<WorkOrderView>;

    async fn work_orders(&self, state: Option<State>) -> Result<Vec<WorkOrderSummary>, StoreError>;

    /// The item of each of `orders` central knows, by order id (OEE's scrap by item).
    async fn work_order_items(
        &self,
        orders: Vec<String>,
    ) -> Result<std::collections::HashMap<String, String>, StoreError>;

    /// The orders due from `from` to `to` (both included), whatever their state, by id:
    /// what head office's delivery figures are made of (one read for every plant).
    async fn work_orders_due(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<WorkOrderSummary>, StoreError>;

    async fn work_order(&self, id: String) -> Result<Option<WorkOrderView>, StoreError>;

    /// `release`, `hold`, `unhold`, `cancel` or `close`, by `by`. A release goes through the
    /// `work_order_release` workflow when there is one: above its thresholds it waits for
    /// the approval ([`WoRejection::AwaitingApproval`]) and is carried out by it.
    async fn work_order_action(
        &self,
        id: String,
        action: Action,
        by: String,
        now: DateTime<Utc>,
    ) -> WoResult<Changed<WorkOrderView>>;

    async fn change_work_order(
        &self,
        id: String,
        change: WorkOrderChange,
        now: DateTime<Utc>,
    ) -> WoResult<Changed<WorkOrderView>>;

    async fn unmatched_work_orders(&self) -> Result<Vec<UnmatchedOrder>, StoreError>;

    /// Puts a lot on quality hold. `item` may be left out for a lot the ledger knows.
    async fn hold_lot(
        &self,
        lot: String,
        item: Option<String>,
        reason: String,
        now: DateTime<Utc>,
    ) -> WoResult<Changed<LotHold>>;

    /// Lifts a hold; [`WoRejection::NotFound`] if the lot is not held.
    async fn release_lot(&self, lot: String) -> WoResult<Changed<LotHold>>;

    async fn lot_holds(&self) -> Result<Vec<LotHold>, StoreError>;

    /// Sets a lot's expiry date, overriding the computed one. `item` may be left out for a
    /// lot the ledger knows. Publishes new plan versions for the edges whose orders use the
    /// lot's item.
    async fn set_lot_expiry(
        &self,
        lot: String,
        item: Option<String>,
        expires: NaiveDate,
        now: DateTime<Utc>,
    ) -> WoResult<Changed<LotExpiry>>;
}

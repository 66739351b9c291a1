//! Deliveries of confirmed sales orders, and the recall list (issue 16, "Shipping and
//! after-sales").
//!
//! A delivery is written in one transaction with everything it means: its number
//! (`DN000001`), the stock it takes out of the ledger (reason `shipped`), each order line's
//! `shipped_qty`, the order `completed` once every line is shipped, one SSCC per package and
//! the order's history. It never ships more of a line than was ordered and not yet shipped.
//! Like the order it belongs to, a delivery is scoped by the order's owner ([`SalesScope`]):
//! outside the caller's scope it does not exist for them.

use super::StoreError;
use super::sales::SalesResult;
use crate::crm::scope::SalesScope;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Lines one delivery may have.
pub const MAX_DELIVERY_LINES: usize = 200;
/// Packages (cartons, pallets) one delivery may have: one SSCC each.
pub const MAX_PACKAGES: u32 = 999;
/// Deliveries one list answers at most.
pub const MAX_DELIVERY_LIST: usize = 500;
/// How many lots deep the recall list follows the genealogy downwards, and how many lots it
/// visits at most: a lot's descendants are bounded so a request is.
pub const MAX_RECALL_DEPTH: usize = 20;
pub const MAX_RECALL_LOTS: usize = 10_000;

/// One line as sent to `POST /api/v1/sales-orders/{order}/deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryLineInput {
    /// The order's line number.
    pub line: u32,
    /// In the item's base unit.
    pub qty: Decimal,
    /// The lot shipped; absent: taken from the item's stock, lot by lot (oldest lot name first).
    #[serde(default)]
    pub lot: Option<String>,
    /// Where it is taken from; absent: wherever the lot (or the item) is.
    #[serde(default)]
    pub location: Option<String>,
}

/// A delivery as sent to `POST /api/v1/sales-orders/{order}/deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryInput {
    pub lines: Vec<DeliveryLineInput>,
    /// Cartons or pallets: one SSCC label each (1 unless given).
    #[serde(default = "one")]
    pub packages: u32,
    #[serde(default)]
    pub note: String,
}

fn one() -> u32 {
    1
}

/// One line of a delivery: what left, of which lot, from where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryLine {
    /// The order's line.
    pub line: u32,
    pub item: String,
    pub description: String,
    pub qty: Decimal,
    pub uom: String,
    pub lot: String,
    pub location: String,
}

/// One package: its place in the shipment and its SSCC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryPackage {
    /// 1, 2, ...
    pub package: u32,
    /// 18 digits with the GS1 check digit.
    pub sscc: String,
}

/// A delivery, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    /// `DN000001`.
    pub number: String,
    /// The sales order's id and number.
    pub order: i64,
    pub order_number: String,
    pub customer: String,
    pub customer_name: String,
    pub customer_po: String,
    /// The order's owner (the delivery's scope).
    pub owner: String,
    pub date: NaiveDate,
    pub note: String,
    pub lines: Vec<DeliveryLine>,
    pub packages: Vec<DeliveryPackage>,
    /// Stock that went below zero where the plant flags it (said, not refused).
    pub warnings: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/v1/deliveries`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub order: Option<i64>,
    pub customer: Option<String>,
    pub limit: usize,
}

/// One delivery that shipped a lot of the recall, or a lot made from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecallRow {
    pub customer: String,
    pub customer_name: String,
    pub order: i64,
    pub order_number: String,
    pub customer_po: String,
    pub delivery: i64,
    pub delivery_number: String,
    pub date: NaiveDate,
    pub item: String,
    /// The lot that was shipped (the recalled lot itself, or one made from it).
    pub lot: String,
    pub qty: Decimal,
    pub uom: String,
    /// From the recalled lot down to the shipped one.
    pub path: Vec<String>,
}

/// `GET /api/v1/lots/{lot}/customers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecallList {
    pub lot: String,
    /// Lots the walk visited: the lot and every lot made from it, down the genealogy.
    pub lots: Vec<String>,
    pub deliveries: Vec<RecallRow>,
    /// The walk stopped at [`MAX_RECALL_DEPTH`] or [`MAX_RECALL_LOTS`]: the list may be
    /// incomplete, and says so.
    pub truncated: bool,
}

#[async_trait]
pub trait DeliveryStore: Send + Sync + 'static {
    /// Ships from a confirmed order in `scope`; `gs1_company_prefix` makes the packages'
    /// SSCCs (extension digit 0, the serial from a counter).
    async fn create_delivery(
        &self,
        order: i64,
        input: DeliveryInput,
        gs1_company_prefix: String,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> SalesResult<Delivery>;

    async fn deliveries(
        &self,
        query: DeliveryQuery,
        scope: SalesScope,
    ) -> Result<Vec<Delivery>, StoreError>;

    async fn delivery(&self, id: i64, scope: SalesScope) -> Result<Option<Delivery>, StoreError>;

    /// Every delivery that shipped `lot` or a lot made from it, whoever's order it was.
    async fn lot_customers(&self, lot: String) -> Result<RecallList, StoreError>;

    /// `[shipping] edges` (and `[documents] gs1_company_prefix`, which their deliveries'
    /// SSCCs start with) into the store, which every plan publication reads: called at start.
    /// The edges that entered or left the list get a plan again; those plans are returned.
    async fn configure_shipping(
        &self,
        edges: Vec<String>,
        gs1_company_prefix: Option<String>,
    ) -> Result<Vec<protocol::Plan>, StoreError>;

    /// What central disagreed with in shipments scanned at edges, newest first.
    async fn shipment_exceptions(&self, limit: usize)
    -> Result<Vec<ShipmentException>, StoreError>;
}

/// A `lot_shipped` event central disagrees with (order unknown or not confirmed, no such line,
/// another item, more than open, a lot held here): booked where it could be, and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentException {
    pub id: i64,
    pub edge_id: String,
    pub seq: u64,
    /// The edge's time of the shipment.
    pub at: DateTime<Utc>,
    pub order: String,
    pub line: u32,
    pub lot: String,
    pub qty: Decimal,
    /// The delivery it went on, when one was made.
    pub delivery: Option<String>,
    pub problem: String,
}

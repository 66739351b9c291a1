//! What the work order and traceability pages read besides an order's view and a lot's
//! genealogy: the lots an order issued and produced (from the stock ledger), the edge events
//! that name an order (its timeline), and the work orders each lot touched.
//!
//! Every figure here is read from tables ingest already fills; nothing is written.

use super::StoreError;
use super::inventory::{Direction, GenealogyLink, GenealogyNode};
use super::work_orders::LotHold;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A quantity of one item's lot, summed from the ledger (entries that were reversed are left
/// out, as on-hand leaves them out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LotQty {
    pub item: String,
    pub lot: String,
    pub uom: String,
    /// `None` when the entries do not sum to a quantity; `problem` says why.
    pub qty: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The lots an order took in and gave out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLots {
    pub work_order: String,
    /// Issued to the order, per component item and lot (what the edge booked as issued,
    /// positive), by item then lot.
    pub issued: Vec<LotQty>,
    /// Produced by the order, by lot.
    pub produced: Vec<LotQty>,
    /// The quality holds on any of those lots.
    pub holds: Vec<LotHold>,
}

/// Where a timeline page starts: the entries strictly older than this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineCursor {
    pub at: DateTime<Utc>,
    pub edge_id: String,
    pub seq: u64,
}

/// An edge event that names the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The edge's clock when it happened.
    pub at: DateTime<Utc>,
    pub edge_id: String,
    pub seq: u64,
    /// `work_order_started`, `production_reported`, …
    pub kind: String,
    /// The event's `kind` as the edge sent it (`type` and its fields).
    pub event: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub work_order: String,
    /// Newest first (event time, then edge and seq).
    pub entries: Vec<TimelineEntry>,
    /// The next page's cursor, when there are older entries.
    pub next: Option<TimelineCursor>,
}

/// Event kinds that name a work order and belong on its timeline.
pub const TIMELINE_KINDS: &[&str] = &[
    "work_order_started",
    "work_order_paused",
    "work_order_completed",
    "production_reported",
    "material_issued",
    "lot_produced",
    "measurement",
];

/// Most entries one timeline page holds.
pub const MAX_TIMELINE_PAGE: usize = 200;

/// The work orders one lot touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotOrders {
    pub lot: String,
    /// The item as the genealogy tables know it.
    pub item: Option<String>,
    /// The orders that produced it (normally one).
    pub made_by: Vec<String>,
    /// The orders it was issued to.
    pub used_by: Vec<String>,
}

/// The near part of a lot's genealogy one way: what a page can draw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NearGenealogy {
    /// The lot itself (depth 0), then the lots within `levels`, at most `max_nodes` of them,
    /// breadth first.
    pub nodes: Vec<GenealogyNode>,
    /// "Made of" links between those lots.
    pub links: Vec<GenealogyLink>,
    /// Lots next to those shown that were left out: at least this many more.
    pub left_out: usize,
}

#[async_trait]
pub trait TraceStore: Send + Sync + 'static {
    /// The lots issued to and produced by an order; `None` if there is no such order.
    async fn order_lots(&self, work_order: String) -> Result<Option<OrderLots>, StoreError>;

    /// The stored edge events naming the order (of [`TIMELINE_KINDS`], quarantined ones left
    /// out), newest first, at most `limit` (capped at [`MAX_TIMELINE_PAGE`]) older than
    /// `before`, of the edges whose plans carried the order and of its line's edge; `None` if
    /// there is no such order. Reads the order's own events (through its index by order), not
    /// every event of those edges.
    async fn order_timeline(
        &self,
        work_order: String,
        before: Option<TimelineCursor>,
        limit: usize,
    ) -> Result<Option<Timeline>, StoreError>;

    /// A lot's genealogy one way as [`super::InventoryStore::genealogy`] traces it, but only
    /// the nearest `levels` and at most `max_nodes` lots: the work is bounded by those, and
    /// the lots just beyond them are counted, not followed.
    async fn genealogy_near(
        &self,
        lot: String,
        direction: Direction,
        levels: u32,
        max_nodes: usize,
    ) -> Result<NearGenealogy, StoreError>;

    /// The work orders each lot touched, in the order asked (a lot nothing knows has empty
    /// lists).
    async fn lot_orders(&self, lots: Vec<String>) -> Result<Vec<LotOrders>, StoreError>;
}

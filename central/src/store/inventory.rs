//! The inventory part of the store: an append-only stock ledger by item, lot and location,
//! and lot genealogy, both built from edge events.
//!
//! **Architecture Invariant:** ledger rows and genealogy links are written inside
//! [`super::Store::ingest_encoded`]'s transaction, and only for events stored by that call
//! (never for duplicates), so a replayed batch never counts twice. The ledger is never
//! updated or deleted (SQLite triggers refuse it); a correction is a reversal row
//! ([`InventoryStore::reverse_entry`]).
//!
//! What each event kind books (location of issues and produced lots: the edge's id, since an
//! edge is one line; its line location is named after it):
//!
//! | event | ledger rows |
//! | --- | --- |
//! | `material_received` | `+qty` of item/lot at `location` |
//! | `material_issued` | `−qty` of item/lot at the edge's line location, to the work order |
//! | `material_moved` | `−qty` at `from`, `+qty` at `to` |
//! | `lot_produced` | `+qty` of the produced item/lot at the edge's line location |
//!
//! Genealogy: a produced lot was made of its `consumed_lots` and of every lot issued to the
//! work order that produced it.

use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use protocol::EventKind;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One ledger row. Quantities are exact decimals (text on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub entry_id: i64,
    pub item: String,
    pub lot: String,
    pub location: String,
    pub qty_delta: Decimal,
    pub uom: String,
    /// The edge and seq of the event that booked it; `None` for a reversal.
    pub edge_id: Option<String>,
    pub seq: Option<u64>,
    /// Event time (the edge's clock); for a reversal, when it was booked.
    pub at: DateTime<Utc>,
    /// `received`, `issued`, `moved_out`, `moved_in`, `produced`, `reversal`, `opening`,
    /// `count` or `shipped` (a delivery of a sales order, its number in the note).
    pub reason: String,
    pub work_order: Option<String>,
    /// The entry this one reverses.
    pub reverses: Option<i64>,
    pub note: Option<String>,
}

/// Filters of an on-hand or ledger query; `at` is a moment (inclusive), `None` for now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InventoryFilter {
    pub item: Option<String>,
    pub lot: Option<String>,
    pub location: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// On-hand of one item, lot and location (zero balances are left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnHandRow {
    pub item: String,
    pub lot: String,
    pub location: String,
    pub uom: String,
    /// `None` (JSON `null`) when the balance cannot be computed; `problem` says why.
    pub qty: Option<Decimal>,
    /// Why there is no `qty`: a ledger that sums beyond what a quantity holds, or an entry
    /// that is not a quantity (only entries booked before central bounded events can do
    /// that). Reversing the entries concerned clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// More was taken out than central knew was there: negative stock, flagged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub negative: bool,
}

/// Why a reversal was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversalRejection {
    /// The entry was already reversed by this entry.
    AlreadyReversed { by: i64 },
    /// The entry is itself a reversal; book the movement again instead.
    IsReversal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From a lot to the lots it was made of.
    #[default]
    Backward,
    /// From a lot to the lots made of it.
    Forward,
}

/// One lot reached by a trace, at its shortest distance from the start (0: the start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenealogyNode {
    pub lot: String,
    pub item: Option<String>,
    pub depth: u32,
}

/// A "made of" link: `produced` contains `consumed`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GenealogyLink {
    pub produced: String,
    pub consumed: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genealogy {
    pub lot: String,
    pub direction: Direction,
    /// Breadth-first order; every lot once, even where links form a cycle.
    pub nodes: Vec<GenealogyNode>,
    pub links: Vec<GenealogyLink>,
}

/// One ledger movement an event books, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Movement {
    pub item: String,
    pub lot: String,
    pub location: String,
    pub qty_delta: Decimal,
    pub uom: String,
    pub reason: &'static str,
    pub work_order: Option<String>,
}

/// What an event means for inventory and genealogy; empty for other kinds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InventoryFacts {
    pub movements: Vec<Movement>,
    /// `(work order, lot, item)` of a material issue.
    pub issued: Option<(String, String, String)>,
    /// `(work order, lot, item, consumed lots)` of a produced lot.
    pub produced: Option<(String, String, String, Vec<String>)>,
}

impl InventoryFacts {
    /// `line_location`: where issues and production are booked (the edge's id).
    pub fn of(kind: &EventKind, line_location: &str) -> Option<InventoryFacts> {
        let mv = |item: &protocol::ItemId,
                  lot: &protocol::LotId,
                  location: &str,
                  qty: Decimal,
                  uom: &str,
                  reason,
                  work_order: Option<String>| Movement {
            item: item.0.clone(),
            lot: lot.0.clone(),
            location: location.to_owned(),
            qty_delta: qty,
            uom: uom.to_owned(),
            reason,
            work_order,
        };
        let facts = match kind {
            EventKind::MaterialReceived {
                item,
                lot,
                qty,
                uom,
                location,
                ..
            } => InventoryFacts {
                movements: vec![mv(item, lot, &location.0, *qty, uom, "received", None)],
                ..Default::default()
            },
            EventKind::MaterialIssued {
                work_order,
                item,
                lot,
                qty,
                uom,
                ..
            } => InventoryFacts {
                movements: vec![mv(
                    item,
                    lot,
                    line_location,
                    -*qty,
                    uom,
                    "issued",
                    Some(work_order.0.clone()),
                )],
                issued: Some((work_order.0.clone(), lot.0.clone(), item.0.clone())),
                ..Default::default()
            },
            EventKind::MaterialMoved {
                item,
                lot,
                qty,
                uom,
                from,
                to,
            } => InventoryFacts {
                movements: vec![
                    mv(item, lot, &from.0, -*qty, uom, "moved_out", None),
                    mv(item, lot, &to.0, *qty, uom, "moved_in", None),
                ],
                ..Default::default()
            },
            EventKind::LotProduced {
                work_order,
                item,
                lot,
                qty,
                uom,
                consumed_lots,
            } => InventoryFacts {
                movements: vec![mv(
                    item,
                    lot,
                    line_location,
                    *qty,
                    uom,
                    "produced",
                    Some(work_order.0.clone()),
                )],
                produced: Some((
                    work_order.0.clone(),
                    lot.0.clone(),
                    item.0.clone(),
                    consumed_lots.iter().map(|l| l.0.clone()).collect(),
                )),
                ..Default::default()
            },
            // Shipped at an edge's dock: out of the place it was picked from.
            EventKind::LotShipped {
                item,
                lot,
                qty,
                uom,
                location,
                ..
            } => InventoryFacts {
                movements: vec![mv(item, lot, &location.0, -*qty, uom, "shipped", None)],
                ..Default::default()
            },
            _ => return None,
        };
        Some(facts)
    }
}

#[async_trait]
pub trait InventoryStore: Send + Sync + 'static {
    /// On-hand by item, lot and location at `filter.at` (event time, inclusive).
    async fn on_hand(&self, filter: InventoryFilter) -> Result<Vec<OnHandRow>, StoreError>;

    /// Ledger rows matching the filter, in entry order, at most `limit`.
    async fn ledger(
        &self,
        filter: InventoryFilter,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Books the reversal of an entry (negated quantity, same item, lot and location) at
    /// `at`. [`StoreError::NotFound`] if there is no such entry.
    async fn reverse_entry(
        &self,
        entry_id: i64,
        note: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<Result<LedgerEntry, ReversalRejection>, StoreError>;

    /// Traces a lot through any number of levels, iteratively (breadth first, each lot
    /// visited once, so cycles end).
    async fn genealogy(&self, lot: String, direction: Direction) -> Result<Genealogy, StoreError>;
}

//! Purchase orders (issue 17): MRP's purchase requisitions, once approved, become orders to
//! the item's preferred supplier at its price and lead time, and goods received at an edge
//! against them close them.
//!
//! **Architecture Invariant:** a requisition becomes at most one order. Asking to buy a
//! planned order again answers the order it became (or the approval it waits on); the order
//! is written in the transaction that approves its requisition.

use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Supplier terms carry no currency: their prices are in the company's, this one.
pub const SUPPLIER_CURRENCY: &str = "CNY";

/// The most orders one list answers.
pub const MAX_ORDERS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoState {
    /// Ordered, not all received.
    Open,
    /// Received in full (or more).
    Received,
}

impl PoState {
    pub fn as_str(self) -> &'static str {
        match self {
            PoState::Open => "open",
            PoState::Received => "received",
        }
    }

    pub fn parse(s: &str) -> Option<PoState> {
        match s {
            "open" => Some(PoState::Open),
            "received" => Some(PoState::Received),
            _ => None,
        }
    }
}

/// A purchase order of one item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurchaseOrder {
    /// `PO000001`: what the supplier prints on its label (GS1 AI 400).
    pub number: String,
    pub supplier: String,
    pub supplier_name: String,
    pub item: String,
    /// In the item's base unit.
    #[serde(with = "rust_decimal::serde::str")]
    pub qty: Decimal,
    pub uom: String,
    /// The supplier's price of one base unit.
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    /// `qty × price`.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub currency: String,
    /// The plant it is for, when the requisition named one: only that plant's edges close it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plant: Option<String>,
    pub ordered_on: NaiveDate,
    /// When the supplier's lead time brings it: `ordered_on` plus the lead time.
    pub due: NaiveDate,
    /// When the material is needed (the requisition's date).
    pub need_date: NaiveDate,
    /// `due` is after `need_date`.
    pub late: bool,
    pub state: PoState,
    /// Received so far, in the base unit.
    #[serde(with = "rust_decimal::serde::str")]
    pub received: Decimal,
    /// The approved requisition it came from (`R000012`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// The MRP run and planned order it buys (`3/PLN-000007`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned_order: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The receipts booked against it, oldest first (only for one order).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub receipts: Vec<PoReceipt>,
}

/// Goods received at an edge, booked against an order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoReceipt {
    pub edge: String,
    pub seq: u64,
    pub lot: String,
    /// As the label said it.
    #[serde(with = "rust_decimal::serde::str")]
    pub qty: Decimal,
    pub uom: String,
    /// In the order's (base) unit; absent when the label's unit does not convert, so the
    /// receipt does not count.
    #[serde(
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub counted: Option<Decimal>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoQuery {
    pub state: Option<PoState>,
    pub supplier: Option<String>,
    pub item: Option<String>,
    pub limit: usize,
}

/// What asking to buy a planned order did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Bought {
    /// The order exists: made now (`created`), or before.
    Ordered {
        purchase_order: Box<PurchaseOrder>,
        created: bool,
    },
    /// The requisition waits on its approval (request `R000012`); the order is made when it
    /// is approved.
    AwaitingApproval { request: String },
}

/// Why a planned order cannot be bought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuyRefusal {
    /// No such run or planned order.
    NotFound(String),
    /// It cannot be ordered (a make order, no supplier, an approval that cannot be asked).
    Refused { code: &'static str, message: String },
}

#[async_trait]
pub trait PurchasingStore: Send + Sync + 'static {
    /// Buys planned order `planned_order` of MRP run `run`: through the
    /// `purchase_requisition` workflow when the form has one, at once otherwise.
    async fn buy_requisition(
        &self,
        run: u64,
        planned_order: String,
        by: String,
        now: DateTime<Utc>,
    ) -> Result<Result<Bought, BuyRefusal>, StoreError>;

    /// Orders, newest first.
    async fn purchase_orders(&self, query: PoQuery) -> Result<Vec<PurchaseOrder>, StoreError>;

    /// One order with its receipts.
    async fn purchase_order(&self, number: String) -> Result<Option<PurchaseOrder>, StoreError>;
}

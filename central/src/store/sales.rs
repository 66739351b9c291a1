//! Quotations and sales orders in the store (issue 16; rules in [`crate::crm::sales`], promise
//! dates in [`crate::crm::promise`]).
//!
//! Both are sales documents: a header, lines priced from the price lists
//! ([`crate::crm::pricing::resolve`]: the customer's price, else their group's, else the list
//! price, on the document's date) unless a price is written on the line, flags, and a
//! history. Like customers they are scoped by owner ([`SalesScope`]): outside the caller's
//! scope a document does not exist for them.
//!
//! - A quotation is written as a draft, then sent; a sent revision never changes. Revising
//!   makes the next revision (a draft, linked to the one it replaces, which is superseded).
//!   Its validity is 30 days from its date unless it says otherwise.
//! - An order is made from a sent quotation (whole, or some of its lines and quantities; the
//!   quotation keeps what has been ordered of each line and refuses more than it offered) or
//!   directly. Confirming it checks the customer's credit limit and computes a promise date
//!   per line inside the same transaction, so two confirmations never promise the same stock;
//!   a confirmed order's lines then hold that stock for the next promise and are demand for
//!   MRP (`SO000001/1`, see [`crate::store::sql`]'s `sales_demands`).
//! - When ERP changes what a line's price or product is (a price row of its item and
//!   currency that reaches its customer, a new BOM revision of its item), every open
//!   quotation and draft order using it is flagged with the old and the new price, and its
//!   owner gets a task. Re-pricing is an explicit action kept in the history; confirmed
//!   orders keep their price. An expired quotation becomes an order only once re-priced.

use super::StoreError;
use crate::crm::promise::Limit;
use crate::crm::sales::{CreditRefusal, OrderStatus, QuoteStatus, Totals};
use crate::crm::scope::SalesScope;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A line as entered on a quotation or a direct order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub item: String,
    /// Printed under the item; empty: the item's description.
    #[serde(default)]
    pub description: Option<String>,
    /// In the item's base unit.
    pub qty: Decimal,
    /// A price agreed on for this line; absent: the price lists' price.
    #[serde(default)]
    pub unit_price: Option<Decimal>,
    #[serde(default)]
    pub discount_pct: Option<Decimal>,
    #[serde(default)]
    pub requested_date: Option<NaiveDate>,
}

/// A quotation as sent to `POST /api/v1/quotations` or `PUT /api/v1/quotations/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotationInput {
    pub customer: String,
    #[serde(default)]
    pub contact: Option<i64>,
    /// Absent: the customer's currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// Absent: today.
    #[serde(default)]
    pub date: Option<NaiveDate>,
    /// Days it is valid from its date (30 unless given).
    #[serde(default)]
    pub valid_days: Option<u64>,
    /// A tax rate's code (`/api/v1/tax-rates`); absent: no tax on the document.
    #[serde(default)]
    pub tax_code: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub note: String,
    pub lines: Vec<LineInput>,
}

/// Which line of a quotation, and how much of it, an order takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotedLine {
    pub line: u32,
    /// Absent: what is left of the line.
    #[serde(default)]
    pub qty: Option<Decimal>,
    #[serde(default)]
    pub requested_date: Option<NaiveDate>,
}

/// An order as sent to `POST /api/v1/sales-orders`: from a quotation (`quotation`, and
/// `quoted_lines` for a part of it) or direct (`customer` and `lines`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    #[serde(default)]
    pub quotation: Option<i64>,
    #[serde(default)]
    pub quoted_lines: Option<Vec<QuotedLine>>,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub date: Option<NaiveDate>,
    #[serde(default)]
    pub tax_code: Option<String>,
    /// The customer's purchase order number.
    #[serde(default)]
    pub customer_po: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub lines: Vec<LineInput>,
}

/// One line of a quotation or an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesLine {
    pub line: u32,
    pub item: String,
    pub description: String,
    pub qty: Decimal,
    pub uom: String,
    /// What the price lists gave when the line was priced (`None`: they had no price and the
    /// line's price was written on it).
    pub list_price: Option<Decimal>,
    /// `customer`, `group`, `list` (from the price lists) or `manual` (written on the line).
    pub price_source: String,
    /// The price of the document: what the customer pays per unit before the discount.
    pub unit_price: Decimal,
    pub discount_pct: Decimal,
    pub net: Decimal,
    pub requested_date: Option<NaiveDate>,
    /// Quotations: how much of the line orders have taken.
    pub ordered_qty: Decimal,
    /// Orders: the quotation line it came from.
    pub quotation_line: Option<u32>,
    /// Orders: the date promised on confirmation.
    pub confirmed_date: Option<NaiveDate>,
    /// Orders: what limits the confirmed date ([`crate::crm::promise::Limit`]).
    pub limit: Option<Limit>,
    /// Orders: the promise's sentence.
    pub promise: Option<String>,
    pub shipped_qty: Decimal,
    /// Confirmed orders: the work orders made for the line (firmed from MRP's planned orders
    /// of its item pegged to it), live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub work_orders: Vec<PeggedOrder>,
    /// Confirmed orders: good and scrap at those work orders' last operations.
    #[serde(default)]
    pub good: u64,
    #[serde(default)]
    pub scrap: u64,
    /// Confirmed orders: when the line is expected ready: the latest due date of its open
    /// work orders, else the confirmed date.
    #[serde(default)]
    pub projected_date: Option<NaiveDate>,
    /// Confirmed orders: why the line may miss its confirmed date (`None`: on track).
    #[serde(default)]
    pub late_risk: Option<String>,
}

/// A work order made for an order line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeggedOrder {
    pub work_order: String,
    pub state: String,
    pub qty: Decimal,
    pub due: NaiveDate,
    pub good: u64,
    pub scrap: u64,
}

/// Something ERP changed that a document's line depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub id: i64,
    /// `quotation` or `order`.
    pub kind: String,
    pub document: i64,
    /// `Q000001/2`, `SO000003`.
    pub number: String,
    pub customer: String,
    pub owner: String,
    pub line: u32,
    pub item: String,
    /// `price` (the price lists' price changed) or `bom_revision`.
    pub reason: String,
    /// The price the document's line was priced at.
    pub old_price: Option<Decimal>,
    /// What the price lists give now (`None`: no price applies any more).
    pub new_price: Option<Decimal>,
    pub detail: String,
    pub flagged_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
}

/// One entry of a document's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub by: String,
    /// `created`, `changed`, `sent`, `revised`, `repriced`, `rejected`, `ordered`,
    /// `confirmed`, `cancelled`, `flagged`.
    pub action: String,
    pub detail: serde_json::Value,
}

/// A quotation or an order, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesDoc {
    pub id: i64,
    /// `quotation` or `order`.
    pub kind: String,
    pub number: String,
    /// Quotations: 1, 2, ...; orders: 1.
    pub revision: u32,
    /// Quotations: the revision this one replaces.
    pub replaces: Option<i64>,
    /// Quotations: the revision that replaced this one.
    pub replaced_by: Option<i64>,
    pub customer: String,
    pub customer_name: String,
    pub contact: Option<i64>,
    pub owner: String,
    pub currency: String,
    /// Quotations: [`QuoteStatus`]; orders: [`OrderStatus`].
    pub status: String,
    pub date: NaiveDate,
    /// Quotations: the last day it is valid.
    pub valid_until: Option<NaiveDate>,
    /// Quotations: past `valid_until` today.
    pub expired: bool,
    /// Orders: the quotation it was made from.
    pub quotation: Option<i64>,
    pub quotation_number: Option<String>,
    pub customer_po: String,
    pub tax_code: Option<String>,
    pub tax_pct: Decimal,
    pub totals: Totals,
    pub note: String,
    pub lines: Vec<SalesLine>,
    /// Open flags (resolved ones are in the history).
    pub flags: Vec<Flag>,
    pub history: Vec<HistoryEntry>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub confirmed_by: Option<String>,
}

impl SalesDoc {
    /// `Q000001/2` for a quotation's revision, `SO000001` for an order.
    pub fn reference(&self) -> String {
        if self.kind == "quotation" {
            format!("{}/{}", self.number, self.revision)
        } else {
            self.number.clone()
        }
    }
}

/// A document in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesDocSummary {
    pub id: i64,
    pub kind: String,
    pub number: String,
    pub revision: u32,
    pub customer: String,
    pub customer_name: String,
    pub owner: String,
    pub status: String,
    pub date: NaiveDate,
    pub valid_until: Option<NaiveDate>,
    pub expired: bool,
    pub currency: String,
    pub gross: Decimal,
    pub lines: u32,
    /// Open flags.
    pub flags: u32,
}

/// `GET /api/v1/quotations`, `GET /api/v1/sales-orders`.
#[derive(Debug, Clone, Default)]
pub struct SalesQuery {
    pub customer: Option<String>,
    pub status: Option<String>,
    pub owner: Option<String>,
    /// Part of the number, the customer's code or name, the customer's PO.
    pub search: Option<String>,
    /// Only documents with open flags.
    pub flagged: bool,
    /// The page after this id (newest first: ids descending).
    pub before: Option<i64>,
    pub limit: usize,
}

/// What is done to a quotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum QuoteAction {
    /// Draft → sent: it never changes again.
    Send,
    /// A new draft revision with the same lines (a sent or rejected one is superseded).
    Revise,
    /// The lines priced again from today's price lists: a draft in place; a sent or expired
    /// one as a new revision dated today. Its open flags are resolved.
    Reprice,
    Reject {
        reason: String,
    },
}

/// What is done to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum OrderAction {
    /// Credit check, promise dates, holds: see the module documentation.
    Confirm,
    /// A draft's lines priced again from today's price lists.
    Reprice,
    Cancel {
        reason: String,
    },
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum SalesRefusal {
    /// Something named is not there for the caller.
    NotFound(String),
    /// It contradicts the document's state (a sent quotation changed, an expired one
    /// ordered, more ordered than quoted).
    Conflict(String),
    /// Lines that cannot be priced or are not valid, each named.
    Invalid(Vec<String>),
    /// Confirming would pass the customer's credit limit.
    Credit(CreditRefusal),
    /// The action waits on an approval (OA request `number`): a credit-limit override, a
    /// quotation's discount. It is carried out when the request is approved.
    AwaitingApproval { number: String, message: String },
}

pub type SalesResult<T> = Result<Result<T, SalesRefusal>, StoreError>;

#[async_trait]
pub trait SalesStore: Send + Sync + 'static {
    async fn sales_docs(
        &self,
        kind: &'static str,
        query: SalesQuery,
        scope: SalesScope,
        today: NaiveDate,
    ) -> Result<Vec<SalesDocSummary>, StoreError>;

    async fn sales_doc(
        &self,
        kind: &'static str,
        id: i64,
        scope: SalesScope,
        today: NaiveDate,
    ) -> Result<Option<SalesDoc>, StoreError>;

    /// Creates a quotation (`id` `None`, revision 1 of a new number) or changes a draft.
    async fn put_quotation(
        &self,
        id: Option<i64>,
        input: QuotationInput,
        owner: String,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> SalesResult<SalesDoc>;

    async fn quotation_action(
        &self,
        id: i64,
        action: QuoteAction,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> SalesResult<SalesDoc>;

    /// Creates an order (`id` `None`) or changes a draft one.
    async fn put_order(
        &self,
        id: Option<i64>,
        input: OrderInput,
        owner: String,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> SalesResult<SalesDoc>;

    async fn order_action(
        &self,
        id: i64,
        action: OrderAction,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> SalesResult<SalesDoc>;

    /// Flags of documents in `scope`, open ones only unless `all`, newest first.
    async fn sales_flags(&self, all: bool, scope: SalesScope) -> Result<Vec<Flag>, StoreError>;

    /// A confirmed order by its status link's token (the customer's read-only view).
    async fn order_by_token(&self, token: String) -> Result<Option<SalesDoc>, StoreError>;

    /// The status link's token of an order in `scope` (made on confirmation).
    async fn order_token(&self, id: i64, scope: SalesScope) -> Result<Option<String>, StoreError>;

    /// The sales cockpit of `from..=to` in `currency` over `scope`.
    async fn cockpit(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        currency: String,
        scope: SalesScope,
    ) -> Result<Cockpit, StoreError>;
}

/// Documents in one list answer at most.
pub const MAX_LIST: usize = 500;

/// Status names as the store keeps them, for a `status` filter's check.
pub fn status_known(kind: &str, status: &str) -> bool {
    if kind == "quotation" {
        QuoteStatus::parse(status).is_some()
    } else {
        OrderStatus::parse(status).is_some()
    }
}

/// A share of sales in the cockpit: by region, industry, item, salesperson or customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub key: String,
    /// A customer's name; empty for the others.
    pub name: String,
    pub net: Decimal,
    pub orders: u64,
}

/// `GET /api/v1/crm/cockpit`: the sales cockpit of a period, in one currency, over the
/// caller's scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cockpit {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub currency: String,
    /// Confirmed and completed orders dated in the period, in `currency`.
    pub orders: u64,
    pub net: Decimal,
    /// Orders in other currencies, left out of the sums (asked for in their own currency).
    pub other_currency_orders: u64,
    pub by_region: Vec<Share>,
    pub by_industry: Vec<Share>,
    pub by_item: Vec<Share>,
    pub by_salesperson: Vec<Share>,
    /// The ten customers with the most sales.
    pub top_customers: Vec<Share>,
    /// Opportunities won and lost (closed in the period).
    pub won: u64,
    pub lost: u64,
    /// `won / (won + lost)` in percent, 1 decimal; `None` when none closed.
    pub win_rate_pct: Option<Decimal>,
    /// Open opportunities in `currency`: their amounts, and weighted by probability.
    pub pipeline: Decimal,
    pub weighted_pipeline: Decimal,
}

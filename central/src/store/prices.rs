//! Price lists, exchange rates and tax rates in the store (issue 16; the rules are
//! [`crate::crm::pricing`]'s).
//!
//! **Architecture Invariant:** two stored price rows of the same item, currency, scope and
//! quantity break never have overlapping validities: every write checks the rows it adds or
//! changes against the stored ones in its transaction (writes run one at a time on either
//! engine), and refuses the whole write naming both rows. **Architecture Invariant:** every
//! write of price rows (put, import, end, delete) calls `store::sql::prices::prices_changed_in`
//! inside its transaction with the keys it changed, the one place where documents that use
//! those prices are flagged ([`crate::store::sales`]).

use super::StoreError;
use crate::crm::pricing::{ExchangeRate, Overlap, Price, StoredPrice, TaxRate};
use crate::erp::import::{Line, RowError};
use async_trait::async_trait;
use chrono::NaiveDate;

/// Most rows one list answers.
pub const MAX_PRICE_PAGE: usize = 1000;

/// Which price rows to list; `None`: any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceFilter {
    pub item: Option<String>,
    pub currency: Option<String>,
    /// Rows of this customer's own prices.
    pub customer: Option<String>,
    /// Rows of this group's prices.
    pub group: Option<String>,
    /// Only list prices (neither a customer's nor a group's).
    pub list_only: bool,
    /// Rows valid on this date.
    pub valid_on: Option<NaiveDate>,
    /// Rows with an id above this (paging).
    pub after: Option<i64>,
    /// At most this many, by id ([`MAX_PRICE_PAGE`] at most).
    pub limit: usize,
}

/// Why a price change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceRejection {
    /// The item is not in the item master.
    UnknownItem(String),
    /// No price row has this id.
    NotFound(i64),
    /// The row would overlap another: both named.
    Overlap(Box<Overlap>),
    /// The change is not one the row allows (a delete of a row already in effect; an end
    /// before the row starts).
    Invalid(String),
}

impl std::fmt::Display for PriceRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PriceRejection::UnknownItem(item) => write!(
                f,
                "item {item:?} is not in the item master; expected a known item"
            ),
            PriceRejection::NotFound(id) => write!(
                f,
                "no price row {id}; expected the id of a row get /api/v1/prices lists"
            ),
            PriceRejection::Overlap(o) => write!(f, "{o}"),
            PriceRejection::Invalid(m) => f.write_str(m),
        }
    }
}

/// What a put of one price row did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricePut {
    pub price: StoredPrice,
    /// False when an identical row was stored already (nothing changed).
    pub created: bool,
}

/// What an import did: rows added, and rows that repeated a stored row exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricesImported {
    pub added: usize,
    pub unchanged: usize,
}

pub type PriceResult<T> = Result<Result<T, PriceRejection>, StoreError>;

#[async_trait]
pub trait PriceStore: Send + Sync + 'static {
    /// Price rows by id, filtered.
    async fn prices(&self, filter: PriceFilter) -> Result<Vec<StoredPrice>, StoreError>;

    async fn price(&self, id: i64) -> Result<Option<StoredPrice>, StoreError>;

    /// The rows [`crate::crm::pricing::resolve`] chooses from: the item's in the currency for
    /// the list, the group and the customer given, at any date.
    async fn prices_to_resolve(
        &self,
        item: String,
        currency: String,
        customer: Option<String>,
        group: Option<String>,
    ) -> Result<Vec<StoredPrice>, StoreError>;

    /// Adds one price row (the item must exist; no overlap). A row identical to a stored one
    /// answers that one, unchanged.
    async fn put_price(&self, price: Price) -> PriceResult<PricePut>;

    /// Adds every row of a file in one transaction, or none: `Err` names every row whose item
    /// is unknown or that overlaps a stored row (both rows named). Rows identical to stored
    /// ones are left as they are.
    async fn import_prices(
        &self,
        rows: Vec<Line<Price>>,
    ) -> Result<Result<PricesImported, Vec<RowError>>, StoreError>;

    /// Ends a row: its last day becomes `valid_to` (on or after its first day; checked for
    /// overlaps if it lengthens the row). Documents that used the row keep pointing at it.
    async fn end_price(&self, id: i64, valid_to: NaiveDate) -> PriceResult<StoredPrice>;

    /// Deletes a row that has not started by `today` (no document can have used it); a row
    /// already in effect is ended instead ([`PriceRejection::Invalid`]).
    async fn delete_price(&self, id: i64, today: NaiveDate) -> PriceResult<StoredPrice>;

    /// The exchange rates, by `(from, to, valid_from)`: those from and to the currencies
    /// given (`None`: any).
    async fn exchange_rates(
        &self,
        from: Option<String>,
        to: Option<String>,
    ) -> Result<Vec<ExchangeRate>, StoreError>;

    /// Creates or updates rates by `(from, to, valid_from)`, all in one transaction.
    async fn put_exchange_rates(&self, rates: Vec<ExchangeRate>) -> Result<(), StoreError>;

    /// Every tax rate, by `(code, valid_from)`.
    async fn tax_rates(&self) -> Result<Vec<TaxRate>, StoreError>;

    /// Creates or updates rates by `(code, valid_from)`, all in one transaction.
    async fn put_tax_rates(&self, rates: Vec<TaxRate>) -> Result<(), StoreError>;
}

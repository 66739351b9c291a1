//! The ERP part of the store: master data, CSV imports and what MRP reads.
//!
//! [`ErpStore`] is a supertrait of [`super::Store`], so `Arc<dyn Store>` has these methods
//! and stays object safe; a store implements both traits.
//!
//! Results that can be refused for the caller's data (not for the store's failure) are
//! `Result<Result<T, Rejection>, StoreError>`, as tokio-modbus keeps a device's exception
//! apart from a transport error: the outer error is central's problem, the inner the
//! client's.

use super::StoreError;
use crate::erp::calendar::CalendarSpec;
use crate::erp::import::{ImportBatch, ImportKind, RowError};
use crate::erp::master_data::{
    BomRevision, ItemDetails, Location, RevisionInput, Supplier, SupplierTerms, Warehouse,
};
use crate::erp::mrp::{BomLine, Dated, Item, ItemKind, LotSizeRule, OnHand, SupplierItem};
use crate::erp::uom::UomConversion;
use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What an accepted import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub kind: ImportKind,
    /// Rows applied (all of the file's).
    pub rows: usize,
    /// BOM imports: the released revisions the file made (one per parent whose BOM differs
    /// from the revision in effect today).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<RevisionMade>,
    /// BOM imports: parents whose BOM in effect today already had the file's content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchanged: Vec<String>,
    /// Inventory imports: ledger rows posted (`opening` or `count`), one per row whose count
    /// differs from what the ledger held.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub adjustments: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionMade {
    pub parent: String,
    pub revision: String,
    pub effective_from: NaiveDate,
}

/// An item with everything the item master holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemMaster {
    pub item: String,
    pub description: String,
    pub kind: ItemKind,
    /// Base unit: what stock, BOM quantities, demands and plans are in.
    pub uom: String,
    pub lead_time_days: u32,
    pub lot_size_rule: LotSizeRule,
    pub lot_size_qty: Decimal,
    pub safety_stock: Decimal,
    pub scrap_pct: Decimal,
    #[serde(flatten)]
    pub details: ItemDetails,
    #[serde(default)]
    pub conversions: Vec<UomConversion>,
}

/// Why a request was refused for its data (not for the store's failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The thing named in the path does not exist.
    NotFound(String),
    /// The request names something that does not exist or is not valid.
    Invalid(String),
    /// The request conflicts with what is stored; `code` says how (`revision_released`, …).
    Conflict { code: &'static str, message: String },
}

pub type ErpResult<T> = Result<Result<T, Rejection>, StoreError>;

/// The master data one MRP run reads, as one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MasterData {
    pub items: Vec<Item>,
    pub bom: Vec<BomLine>,
    /// Per item, all lots and locations summed.
    pub on_hand: Vec<OnHand>,
    pub demands: Vec<Dated>,
    pub receipts: Vec<Dated>,
    pub supplier_items: Vec<SupplierItem>,
    pub calendar: CalendarSpec,
}

#[async_trait]
pub trait ErpStore: Send + Sync + 'static {
    /// Applies a parsed file in one transaction, or nothing: `Ok(Err(rows))` lists every row
    /// that the database refuses (an unknown item, a BOM cycle, a bought parent).
    async fn import(
        &self,
        batch: ImportBatch,
    ) -> Result<Result<ImportSummary, Vec<RowError>>, StoreError> {
        self.import_at(batch, chrono::Utc::now().date_naive()).await
    }

    /// [`Self::import`] with the date a BOM import's new revisions take effect: a BOM file
    /// gives the whole BOM of each parent it names; where that differs from the released
    /// revision in effect on `today`, it becomes a new released revision effective `today`
    /// (a later revision wins over an earlier one with the same date); where it is the same,
    /// nothing changes. A parent's first revision replaces nothing and is effective since
    /// 1970-01-01. Drafts are left alone.
    async fn import_at(
        &self,
        batch: ImportBatch,
        today: NaiveDate,
    ) -> Result<Result<ImportSummary, Vec<RowError>>, StoreError>;

    /// Released BOM lines are those of the revisions that can be in effect (a revision whose
    /// `effective_from` a later revision repeats is left out), with their effectivity.
    /// Items, BOM, on-hand, demands, receipts, supplier terms and calendar, read in one
    /// transaction.
    async fn master_data(&self) -> Result<MasterData, StoreError>;

    /// The working calendar (Monday to Friday, no holidays, until one is set).
    async fn calendar(&self) -> Result<CalendarSpec, StoreError>;

    async fn set_calendar(&self, calendar: CalendarSpec) -> Result<(), StoreError>;

    async fn items(&self) -> Result<Vec<ItemMaster>, StoreError>;
    async fn item(&self, item: String) -> Result<Option<ItemMaster>, StoreError>;
    /// Creates or replaces an item (its conversions are kept). A phantom must be a make item
    /// without stock or scheduled receipts.
    async fn put_item(&self, item: ItemMaster) -> ErpResult<ItemMaster>;
    /// Replaces the item's unit conversions.
    async fn put_conversions(
        &self,
        item: String,
        conversions: Vec<UomConversion>,
    ) -> ErpResult<Vec<UomConversion>>;

    /// Every revision of the parent's BOM, oldest first.
    async fn bom(&self, parent: String) -> ErpResult<Vec<BomRevision>>;
    /// A new draft revision, lettered after the last one.
    async fn create_revision(&self, parent: String, input: RevisionInput)
    -> ErpResult<BomRevision>;
    /// Replaces a draft; a released revision is refused (`revision_released`).
    async fn update_revision(
        &self,
        parent: String,
        revision: String,
        input: RevisionInput,
    ) -> ErpResult<BomRevision>;
    /// Releases a draft (checked: lines present, no BOM cycle with the released revisions).
    async fn release_revision(&self, parent: String, revision: String) -> ErpResult<BomRevision>;

    async fn warehouses(&self) -> Result<Vec<Warehouse>, StoreError>;
    async fn warehouse(&self, warehouse: String) -> Result<Option<Warehouse>, StoreError>;
    /// Creates or changes a warehouse; `plant` `None` keeps its plant (a new one: the
    /// default plant).
    async fn put_warehouse(
        &self,
        warehouse: String,
        description: String,
        plant: Option<String>,
    ) -> ErpResult<Warehouse>;
    /// Creates or updates a location of a warehouse; a location id is unique across
    /// warehouses (inventory rows name only the location).
    async fn put_location(&self, location: Location) -> ErpResult<Location>;

    async fn suppliers(&self) -> Result<Vec<Supplier>, StoreError>;
    async fn supplier(&self, supplier: String) -> Result<Option<Supplier>, StoreError>;
    async fn put_supplier(&self, supplier: String, name: String) -> ErpResult<Supplier>;
    /// Creates or replaces a supplier's terms for an item; `preferred` makes the item's other
    /// suppliers not preferred.
    async fn put_supplier_item(&self, terms: SupplierTerms) -> ErpResult<SupplierTerms>;
    async fn delete_supplier_item(&self, supplier: String, item: String) -> ErpResult<()>;
}

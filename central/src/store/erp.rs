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
use crate::erp::mrp::{BomLine, Dated, Item, OnHand};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What an accepted import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub kind: ImportKind,
    /// Rows applied (all of the file's).
    pub rows: usize,
}

/// The master data one MRP run reads, as one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MasterData {
    pub items: Vec<Item>,
    pub bom: Vec<BomLine>,
    /// Per item, all lots and locations summed.
    pub on_hand: Vec<OnHand>,
    pub demands: Vec<Dated>,
    pub receipts: Vec<Dated>,
    pub calendar: CalendarSpec,
}

#[async_trait]
pub trait ErpStore: Send + Sync + 'static {
    /// Applies a parsed file in one transaction, or nothing: `Ok(Err(rows))` lists every row
    /// that the database refuses (an unknown item, a BOM cycle, a bought parent).
    async fn import(
        &self,
        batch: ImportBatch,
    ) -> Result<Result<ImportSummary, Vec<RowError>>, StoreError>;

    /// Items, BOM, on-hand, demands, receipts and calendar, read in one transaction.
    async fn master_data(&self) -> Result<MasterData, StoreError>;

    /// The working calendar (Monday to Friday, no holidays, until one is set).
    async fn calendar(&self) -> Result<CalendarSpec, StoreError>;

    async fn set_calendar(&self, calendar: CalendarSpec) -> Result<(), StoreError>;
}

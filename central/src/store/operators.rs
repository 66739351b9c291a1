//! The operator registry in the store: badge, name, skills, an optional PIN hash, active.
//!
//! **Architecture Invariant:** every plan the store publishes carries the registry's active
//! operators, filled in where every plan is published (`sqlite::publish_plan_in`), whatever
//! the caller's content said; and a change of the registry publishes, in the same
//! transaction, a new plan version for every edge that has a plan (when what the plans carry
//! changes), returned for the API to wake the edges' long polls after the commit.

use super::StoreError;
use super::work_orders::Changed;
use crate::people::operators::{Operator, OperatorUpdate};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Why a registry change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryRejection {
    /// The change would leave more active operators than a plan carries.
    TooManyActive { active: usize, max: usize },
}

impl std::fmt::Display for RegistryRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryRejection::TooManyActive { active, max } => write!(
                f,
                "the change would leave {active} active operators; a plan carries at most {max}, so deactivate some first"
            ),
        }
    }
}

pub type RegistryResult<T> = Result<Result<Changed<T>, RegistryRejection>, StoreError>;

#[async_trait]
pub trait OperatorStore: Send + Sync + 'static {
    /// Every operator, active or not, by badge.
    async fn operators(&self) -> Result<Vec<Operator>, StoreError>;

    async fn operator(&self, badge: String) -> Result<Option<Operator>, StoreError>;

    /// Creates or updates one operator.
    async fn put_operator(
        &self,
        update: OperatorUpdate,
        now: DateTime<Utc>,
    ) -> RegistryResult<Operator>;

    /// Creates or updates every operator of an import in one transaction; the number of rows.
    async fn import_operators(
        &self,
        updates: Vec<OperatorUpdate>,
        now: DateTime<Utc>,
    ) -> RegistryResult<usize>;
}

//! Plants in the store: their rules for the floor ([`crate::people::plants`]).
//!
//! **Architecture Invariant:** every plan carries the rules of the plant of its edge's line
//! (filled where every plan is published), and a change of a plant's rules publishes, in the
//! same transaction, a new plan version for every edge whose plan's rules change.

use super::StoreError;
use super::work_orders::Changed;
use crate::people::plants::Plant;
use async_trait::async_trait;

#[async_trait]
pub trait PlantStore: Send + Sync + 'static {
    /// Every plant, by id (the default plant always exists).
    async fn plants(&self) -> Result<Vec<Plant>, StoreError>;

    async fn plant(&self, plant: String) -> Result<Option<Plant>, StoreError>;

    /// Creates or changes a plant; the plans it changes come back to wake their edges.
    async fn put_plant(&self, plant: Plant) -> Result<Changed<Plant>, StoreError>;
}

//! SPC in the store (`store/sql/spc.rs`, schema 10): characteristics with their
//! specification and frozen control limits, the points ingest makes of the edges'
//! measurements, and the alarms a rule violation raises on the plant board.

use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A characteristic as it is put (`PUT /api/v1/spc/characteristics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharacteristicSpec {
    /// The plant it applies to; `None`: every plant.
    #[serde(default)]
    pub plant: Option<String>,
    /// The item whose work orders' measurements it charts.
    pub item: String,
    /// The routing operation; `None`: any.
    #[serde(default)]
    pub operation: Option<u32>,
    /// The name the edges send (`characteristic` of `measurement`).
    pub name: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub target: Option<f64>,
    #[serde(default)]
    pub lsl: Option<f64>,
    #[serde(default)]
    pub usl: Option<f64>,
    /// 1: individuals (I-MR); 2 to 10: X-bar/R.
    pub subgroup_size: u8,
    /// How many subgroups (or individuals) the control limits are computed from.
    #[serde(default = "default_baseline")]
    pub baseline: u32,
}

pub fn default_baseline() -> u32 {
    25
}

/// A stored characteristic with where it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpcCharacteristic {
    pub id: u64,
    #[serde(flatten)]
    pub spec: CharacteristicSpec,
    /// Frozen control limits, once the baseline is complete.
    pub limits: Option<crate::mes::spc::Limits>,
    pub frozen_at: Option<DateTime<Utc>>,
    /// Points (subgroups or individuals) since the last (re)baseline began.
    pub baseline_points: u64,
    /// Every point so far.
    pub points: u64,
    /// Values of the subgroup being filled.
    pub pending: u64,
    /// Open (unacknowledged) alarms.
    pub open_alarms: u64,
    /// When it was retired, and by whom: it takes no more measurements and raises no alarm;
    /// its chart and alarms stay, read-only. Absent while it is in use.
    pub retired_at: Option<DateTime<Utc>>,
    pub retired_by: Option<String>,
}

/// One point of a chart: a subgroup's mean and range, or an individual and its moving range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpcPoint {
    /// 1, 2, 3, ... per characteristic.
    pub n: u64,
    /// The edge's time of the measurement that completed it.
    pub at: DateTime<Utc>,
    pub values: Vec<f64>,
    /// The subgroup's mean, or the individual value.
    pub value: f64,
    /// The subgroup's range, or the moving range (`None` for the first individual).
    pub range: Option<f64>,
    pub edge_id: String,
    pub station: String,
    pub work_order: Option<String>,
    /// The measurement events it is made of.
    pub seqs: Vec<u64>,
    /// Whether it is one of the points the frozen limits were computed from.
    pub baseline: bool,
    /// Western Electric rules (1-4) violated at this point.
    pub rules: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpcAlarm {
    pub id: u64,
    pub characteristic: u64,
    pub name: String,
    pub item: String,
    pub plant: String,
    pub edge_id: String,
    pub station: String,
    pub rule: u8,
    /// The point's `n`.
    pub point: u64,
    pub value: f64,
    pub at: DateTime<Utc>,
    pub raised_at: DateTime<Utc>,
    pub acked_at: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
}

#[async_trait]
pub trait SpcStore: Send + Sync + 'static {
    /// Every characteristic, by id.
    async fn spc_characteristics(&self) -> Result<Vec<SpcCharacteristic>, StoreError>;

    async fn spc_characteristic(&self, id: u64) -> Result<Option<SpcCharacteristic>, StoreError>;

    /// Makes or changes the characteristics named by `(plant, item, operation, name)`, all or
    /// none; a stored one's subgroup size cannot change once it has points (409).
    async fn put_spc_characteristics(
        &self,
        specs: Vec<CharacteristicSpec>,
    ) -> Result<Vec<SpcCharacteristic>, StoreError>;

    /// Unfreezes the limits: the next `baseline` points freeze new ones. A retired
    /// characteristic is not rebaselined (409).
    async fn rebaseline_spc(&self, id: u64) -> Result<SpcCharacteristic, StoreError>;

    /// Retires a characteristic: ingest charts no more measurements on it, and its open
    /// alarms are closed as acknowledged by `by` (so the edges' next plans drop them); its
    /// points and alarms stay, read-only. Retiring a retired one changes nothing. Putting
    /// its `(plant, item, operation, name)` again brings it back, history and limits kept.
    async fn retire_spc(
        &self,
        id: u64,
        by: String,
    ) -> Result<super::work_orders::Changed<SpcCharacteristic>, StoreError>;

    /// The items of `items` the master data does not hold.
    async fn missing_items(&self, items: Vec<String>) -> Result<Vec<String>, StoreError>;

    /// The last `limit` points of a characteristic, oldest first.
    async fn spc_points(&self, id: u64, limit: u64) -> Result<Vec<SpcPoint>, StoreError>;

    /// Alarms, newest first; only the open ones when `open_only`.
    async fn spc_alarms(&self, open_only: bool, limit: u64) -> Result<Vec<SpcAlarm>, StoreError>;

    async fn spc_alarm(&self, id: u64) -> Result<Option<SpcAlarm>, StoreError>;

    /// Acknowledges an open alarm (an acknowledged one stays as it was); the edge's plan,
    /// which carried it, comes back in its next version.
    async fn ack_spc_alarm(
        &self,
        id: u64,
        by: String,
    ) -> Result<super::work_orders::Changed<SpcAlarm>, StoreError>;
}

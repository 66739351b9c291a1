//! Plans: the released work orders one edge runs, as a numbered version.
//!
//! Central publishes a new [`Plan`] version for an edge whenever something the line needs to
//! know changes; the edge applies a version whole or not at all and reports which one it runs.

use crate::ids::{EdgeId, ItemId, StationId, WorkOrderId};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A plan version number. `PlanVersion(0)` means "no plan yet".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct PlanVersion(pub u64);

impl std::fmt::Display for PlanVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub edge_id: EdgeId,
    pub version: PlanVersion,
    /// When central published this version.
    pub published_at: DateTime<Utc>,
    pub work_orders: Vec<PlanWorkOrder>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanWorkOrder {
    pub work_order: WorkOrderId,
    pub item: ItemId,
    pub qty: Decimal,
    pub uom: String,
    pub due: NaiveDate,
    /// Lower runs first.
    #[serde(default)]
    pub priority: i32,
    /// The operations of this work order that run on this edge's line.
    pub operations: Vec<PlanOperation>,
    /// Values written to the PLC when the work order starts (target quantity, recipe, …),
    /// keyed by the parameter names the line's PLC configuration knows.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plc_parameters: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanOperation {
    /// Operation number in the routing (10, 20, …).
    pub operation: u32,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<StationId>,
    /// The items that may be issued to this operation (error-proofing on the edge).
    #[serde(default)]
    pub allowed_components: Vec<ItemId>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub fn sample_plan() -> Plan {
        Plan {
            edge_id: "line-1".into(),
            version: PlanVersion(3),
            published_at: Utc.with_ymd_and_hms(2026, 11, 27, 6, 0, 0).unwrap(),
            work_orders: vec![PlanWorkOrder {
                work_order: "WO-1001".into(),
                item: "BRACKET".into(),
                qty: Decimal::new(500, 0),
                uom: "pcs".into(),
                due: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
                priority: 1,
                operations: vec![PlanOperation {
                    operation: 10,
                    description: "stamp".into(),
                    station: Some("st-10".into()),
                    allowed_components: vec!["STEEL-2MM".into()],
                }],
                plc_parameters: BTreeMap::from([
                    ("target_qty".to_owned(), serde_json::json!(500)),
                    ("recipe".to_owned(), serde_json::json!(17)),
                ]),
            }],
        }
    }

    #[test]
    fn plan_json() {
        insta::assert_json_snapshot!(sample_plan());
    }
}

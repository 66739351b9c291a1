//! Plans: the released work orders one edge runs, as a numbered version.
//!
//! Central publishes a new [`Plan`] version for an edge whenever something the line needs to
//! know changes; the edge applies a version whole or not at all and reports which one it runs.

use crate::ids::{
    EdgeId, ItemId, LocationId, LotId, OperatorId, SalesOrderId, StationId, WorkOrderId,
};
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
    /// Central's plan epoch: which line of versions this plan belongs to. A central restored
    /// from a backup starts a new epoch, and an edge takes a plan of another epoch whatever
    /// its version (the restored central no longer knows the versions it handed out after
    /// the backup). Absent: a central from before epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    pub work_orders: Vec<PlanWorkOrder>,
    /// Material lots the line may scan whose status central knows: held and expiring lots
    /// above all, so the edge can refuse them while central is unreachable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lots: Vec<PlanLot>,
    /// Items by GTIN, for suppliers' GS1 labels: a scanned (01) GTIN is looked up here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gtins: BTreeMap<String, ItemId>,
    /// The operator registry: the people who may sign in at this line's stations. A badge not
    /// listed here is refused, so sign-in works offline and only against central's registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<PlanOperator>,
    /// The plant's rules for this line (tolerances, negative stock, stop reasons); absent: the
    /// defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<PlanRules>,
    /// What this edge may ship: the open lines of confirmed sales orders, earliest confirmed
    /// date first (at most [`MAX_PLAN_SHIPMENTS`]). Only edges central's `[shipping] edges`
    /// names get any, so the plans of production lines stay small.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shipments: Vec<PlanShipment>,
    /// Material requisitions for the plan's work orders (asked at a terminal of this or
    /// another line, or filled in at central): waiting, approved or rejected. An approved one
    /// lets the line issue that much more of its item to its work order (beyond the BOM and
    /// the plant's tolerance, or an item the BOM does not name). At most
    /// [`MAX_PLAN_REQUISITIONS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requisitions: Vec<PlanRequisition>,
}

/// The most material requisitions one plan carries.
pub const MAX_PLAN_REQUISITIONS: usize = 2_000;

/// One material requisition for a work order of the plan, as central decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRequisition {
    /// The requisition's id: the id of the `material_requested` event that asked for it at a
    /// terminal, or central's request number when it was filled in at central.
    pub id: String,
    /// Central's approval request (`OA000123`), when one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    pub work_order: WorkOrderId,
    /// The operation it is for; absent: whichever operation of the order takes the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<u32>,
    pub item: ItemId,
    pub qty: Decimal,
    pub uom: String,
    pub state: RequisitionState,
    /// Who decided, and what they said (a rejection's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Where a material requisition stands at central.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequisitionState {
    /// Waiting for an approver.
    Waiting,
    /// Approved: the line may issue its quantity.
    Approved,
    /// Rejected, withdrawn, or refused by central (the form did not check): nothing more may
    /// be issued; the comment says why.
    Rejected,
}

impl RequisitionState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequisitionState::Waiting => "waiting",
            RequisitionState::Approved => "approved",
            RequisitionState::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<RequisitionState> {
        match s {
            "waiting" => Some(RequisitionState::Waiting),
            "approved" => Some(RequisitionState::Approved),
            "rejected" => Some(RequisitionState::Rejected),
            _ => None,
        }
    }
}

/// The most open sales order lines one plan carries.
pub const MAX_PLAN_SHIPMENTS: usize = 2_000;

/// One open line of a confirmed sales order, as a dock station ships it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanShipment {
    /// The order's number (`SO000001`), as its label carries it (AI 98).
    pub order: SalesOrderId,
    /// The customer's code and name, for the operator's answer.
    pub customer: String,
    #[serde(default)]
    pub customer_name: String,
    /// The line number within the order (1, 2, …).
    pub line: u32,
    pub item: ItemId,
    /// Ordered less shipped when central published the plan, in `uom`.
    pub open_qty: Decimal,
    pub uom: String,
    /// The line's confirmed (promised) date, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<NaiveDate>,
}

/// What a plant decided for its lines, carried down with the plan so the edge applies it
/// offline too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRules {
    /// How far good parts and issued material may exceed the order (percent) before it is
    /// over-production or over-issue: a warning on the terminal and on the order.
    #[serde(default)]
    pub over_tolerance_pct: Decimal,
    /// Once an order's good parts reach its quantity plus the tolerance, counts at its
    /// stations are no longer booked to it but kept unassigned (and visible).
    #[serde(default)]
    pub stop_counting_when_complete: bool,
    #[serde(default)]
    pub negative_stock: NegativeStock,
    /// The plant's list of stop reasons, for an operator to attribute a stop the machine
    /// reported without one (`stop_reason_given`). Empty: the line terminal takes free text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_reasons: Vec<PlanStopReason>,
    /// Central's open SPC alarms of this edge's stations, newest first, for the line
    /// terminal's andon until someone acknowledges them at central.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spc_alarms: Vec<PlanSpcAlarm>,
}

impl Default for PlanRules {
    fn default() -> Self {
        PlanRules {
            over_tolerance_pct: Decimal::ZERO,
            stop_counting_when_complete: false,
            negative_stock: NegativeStock::Flag,
            stop_reasons: Vec::new(),
            spc_alarms: Vec::new(),
        }
    }
}

/// One reason a plant attributes stops to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStopReason {
    /// What a `stop_reason_given` event records (`reason`).
    pub code: String,
    /// As the line terminal shows it in English.
    pub name: String,
    /// As the line terminal shows it in Chinese; empty: `name` is shown.
    #[serde(default)]
    pub name_zh: String,
    /// The plant's grouping (breakdown, material, changeover, …), for loss analyses.
    pub category: String,
    /// A planned stop (a break, planned maintenance): ISO 22400 counts it outside the
    /// planned busy time rather than as a loss of availability.
    pub planned: bool,
}

/// An SPC alarm central raised for a station of the edge: a control chart's Western Electric
/// rule broken at a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSpcAlarm {
    /// Central's alarm id.
    pub id: u64,
    /// Empty when the measurements named no station.
    pub station: String,
    /// The characteristic's name, as the edge measures it.
    pub characteristic: String,
    /// The rule broken (1-4).
    pub rule: u8,
    /// The point's value (a subgroup's mean, or the single value).
    pub value: f64,
    /// The edge's time of the measurement that made the point.
    pub at: DateTime<Utc>,
}

impl PlanRules {
    /// `qty` plus the tolerance; `None` on overflow.
    pub fn with_tolerance(&self, qty: Decimal) -> Option<Decimal> {
        qty.checked_mul(Decimal::ONE_HUNDRED.checked_add(self.over_tolerance_pct)?)?
            .checked_div(Decimal::ONE_HUNDRED)
    }
}

/// What happens when a line issues a lot that central has no stock of at that place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativeStock {
    /// The edge refuses the issue (the lot has no stock central told it about).
    Refuse,
    /// Booked, and the negative balance is flagged on the ledger and the work order.
    #[default]
    Flag,
    /// Booked without a word.
    Allow,
}

/// One person of the operator registry, as a line needs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanOperator {
    pub badge: OperatorId,
    pub name: String,
    /// What they are qualified for: an operation naming a `skill` starts only for an operator
    /// who has it; `supervisor` may pair terminals and approve overrides at the line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
    /// The PHC string (argon2id) of the operator's PIN. With one, signing in takes the badge
    /// and the PIN; a badge alone is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_hash: Option<String>,
}

/// The skill that lets an operator pair terminals and approve overrides at the line.
pub const SUPERVISOR_SKILL: &str = "supervisor";

impl PlanOperator {
    pub fn has_skill(&self, skill: &str) -> bool {
        self.skills.iter().any(|s| s == skill)
    }
}

/// What central publishes for an edge: everything of a [`Plan`] but its header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanContent {
    pub work_orders: Vec<PlanWorkOrder>,
    #[serde(default)]
    pub lots: Vec<PlanLot>,
    #[serde(default)]
    pub gtins: BTreeMap<String, ItemId>,
    /// Filled by central from its operator registry when it publishes; what a caller sends
    /// here is replaced.
    #[serde(default)]
    pub operators: Vec<PlanOperator>,
    /// Filled by central from the plant of the edge's line when it publishes.
    #[serde(default)]
    pub rules: Option<PlanRules>,
    /// Filled by central from its confirmed sales orders when it publishes, for the edges
    /// that ship; what a caller sends here is replaced.
    #[serde(default)]
    pub shipments: Vec<PlanShipment>,
    /// Filled by central from the material requisitions of the plan's work orders when it
    /// publishes; what a caller sends here is replaced.
    #[serde(default)]
    pub requisitions: Vec<PlanRequisition>,
}

impl Plan {
    pub fn new(
        edge_id: EdgeId,
        version: PlanVersion,
        published_at: DateTime<Utc>,
        content: PlanContent,
    ) -> Plan {
        Plan {
            edge_id,
            version,
            published_at,
            epoch: None,
            work_orders: content.work_orders,
            lots: content.lots,
            gtins: content.gtins,
            operators: content.operators,
            rules: content.rules,
            shipments: content.shipments,
            requisitions: content.requisitions,
        }
    }

    /// The plant's rules in force (the defaults when central sent none).
    pub fn rules(&self) -> PlanRules {
        self.rules.clone().unwrap_or_default()
    }

    /// The plan's content, without its header.
    pub fn content(&self) -> PlanContent {
        PlanContent {
            work_orders: self.work_orders.clone(),
            lots: self.lots.clone(),
            gtins: self.gtins.clone(),
            operators: self.operators.clone(),
            rules: self.rules.clone(),
            shipments: self.shipments.clone(),
            requisitions: self.requisitions.clone(),
        }
    }

    pub fn operator(&self, badge: &str) -> Option<&PlanOperator> {
        self.operators.iter().find(|o| o.badge.as_str() == badge)
    }

    pub fn work_order(&self, id: &str) -> Option<&PlanWorkOrder> {
        self.work_orders
            .iter()
            .find(|w| w.work_order.as_str() == id)
    }

    pub fn lot(&self, lot: &str) -> Option<&PlanLot> {
        self.lots.iter().find(|l| l.lot.as_str() == lot)
    }

    /// The open lines of sales order `order` this edge may ship, in line order.
    pub fn shipment_lines<'a>(&'a self, order: &'a str) -> impl Iterator<Item = &'a PlanShipment> {
        self.shipments
            .iter()
            .filter(move |s| s.order.as_str() == order)
    }

    /// The requisition `id` (a `material_requested` event's id, or central's request number).
    pub fn requisition(&self, id: &str) -> Option<&PlanRequisition> {
        self.requisitions.iter().find(|r| r.id == id)
    }

    /// The requisitions for `item` of `operation` of `work_order` (those for the operation
    /// and those for no operation in particular), in the plan's order.
    pub fn requisitions_for<'a>(
        &'a self,
        work_order: &'a str,
        operation: u32,
        item: &'a str,
    ) -> impl Iterator<Item = &'a PlanRequisition> {
        self.requisitions.iter().filter(move |r| {
            r.work_order.as_str() == work_order
                && r.item.as_str() == item
                && r.operation.is_none_or(|op| op == operation)
        })
    }

    /// How much more of `item` approved requisitions let the line issue to `operation` of
    /// `work_order`; zero without one. Saturates instead of overflowing.
    pub fn allowance(&self, work_order: &str, operation: u32, item: &str) -> Decimal {
        self.requisitions_for(work_order, operation, item)
            .filter(|r| r.state == RequisitionState::Approved)
            .fold(Decimal::ZERO, |total, r| {
                total.checked_add(r.qty).unwrap_or(Decimal::MAX)
            })
    }

    /// What the plan runs at `station` when no scan started a work order there: the first
    /// work order not on hold whose routing names the station, and that operation.
    pub fn planned_at(&self, station: &str) -> Option<(&PlanWorkOrder, &PlanOperation)> {
        self.work_orders
            .iter()
            .filter(|wo| !wo.on_hold)
            .find_map(|wo| Some((wo, wo.operation_at(station)?)))
    }
}

/// What central knows of one material lot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanLot {
    pub lot: LotId,
    pub item: ItemId,
    /// The last day the lot may be used; it is expired from the day after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<NaiveDate>,
    /// Quality hold: the lot must not be used.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_hold: bool,
    /// Why it is held, as the operator is told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_reason: Option<String>,
    /// Where it is stored, when central knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationId>,
    /// How much of it central holds in stock (all locations), in the item's base unit, when
    /// the plant refuses negative stock: the edge then issues no more than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_hand: Option<Decimal>,
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
    /// Held work orders stay in the plan, so the line sees them, but cannot be started.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_hold: bool,
    /// Make-to-order: the customer order lines this work order is made for (central's MRP
    /// pegging), so the line sees whom its lots are for. Empty: made to stock. At most
    /// [`crate::bounds::MAX_PLAN_LIST`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub made_for: Vec<PlanMadeFor>,
}

/// One customer order line a work order is made for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMadeFor {
    /// The sales order and its line, as central numbers them: `SO000001/1`.
    pub order: String,
    /// The customer's code.
    pub customer: String,
    /// The customer's name as the line shows it.
    pub customer_name: String,
    /// The date promised to the customer for this line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<NaiveDate>,
}

impl PlanWorkOrder {
    /// The operation of this work order that runs at `station`.
    pub fn operation_at(&self, station: &str) -> Option<&PlanOperation> {
        self.operations
            .iter()
            .find(|op| op.station.as_ref().is_some_and(|s| s.as_str() == station))
    }
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
    /// How much of each component the whole work order needs at this operation (BOM quantity
    /// times order quantity, scrap included); the edge refuses an issue beyond what is still
    /// open. A component allowed but not listed here is not limited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<PlanComponent>,
    /// The skill an operator needs to run this operation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanComponent {
    pub item: ItemId,
    pub qty: Decimal,
    pub uom: String,
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
            epoch: None,
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
                    components: vec![PlanComponent {
                        item: "STEEL-2MM".into(),
                        qty: Decimal::new(250, 0),
                        uom: "kg".into(),
                    }],
                    skill: Some("press".into()),
                }],
                plc_parameters: BTreeMap::from([
                    ("target_qty".to_owned(), serde_json::json!(500)),
                    ("recipe".to_owned(), serde_json::json!(17)),
                ]),
                on_hold: false,
                made_for: vec![PlanMadeFor {
                    order: "SO000042/1".into(),
                    customer: "C000007".into(),
                    customer_name: "宏达自行车 Hongda Bikes".into(),
                    confirmed: NaiveDate::from_ymd_opt(2026, 12, 4),
                }],
            }],
            lots: vec![PlanLot {
                lot: "L-779".into(),
                item: "STEEL-2MM".into(),
                expires: NaiveDate::from_ymd_opt(2027, 3, 31),
                on_hold: true,
                hold_reason: Some("QC-17 tensile test failed".into()),
                location: Some("LINE-1".into()),
                on_hand: Some(Decimal::new(120, 0)),
            }],
            gtins: BTreeMap::from([("09506000134352".to_owned(), "STEEL-2MM".into())]),
            operators: vec![PlanOperator {
                badge: "10442".into(),
                name: "Li Wei".into(),
                skills: vec!["press".into(), SUPERVISOR_SKILL.into()],
                pin_hash: Some(
                    "$argon2id$v=19$m=8192,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
                ),
            }],
            rules: Some(PlanRules {
                over_tolerance_pct: Decimal::new(5, 0),
                stop_counting_when_complete: true,
                negative_stock: NegativeStock::Refuse,
                stop_reasons: vec![
                    PlanStopReason {
                        code: "JAM".into(),
                        name: "Material jam".into(),
                        name_zh: "卡料".into(),
                        category: "breakdown".into(),
                        planned: false,
                    },
                    PlanStopReason {
                        code: "BREAK".into(),
                        name: "Break".into(),
                        name_zh: String::new(),
                        category: "planned".into(),
                        planned: true,
                    },
                ],
                spc_alarms: Vec::new(),
            }),
            shipments: vec![PlanShipment {
                order: "SO000001".into(),
                customer: "C0001".into(),
                customer_name: "Shenzhen Precision Ltd".into(),
                line: 1,
                item: "BRACKET".into(),
                open_qty: Decimal::new(300, 0),
                uom: "pcs".into(),
                confirmed: NaiveDate::from_ymd_opt(2026, 12, 4),
            }],
            requisitions: vec![PlanRequisition {
                id: "0190a1b2-0000-7000-8000-000000000002".into(),
                number: Some("OA000017".into()),
                work_order: "WO-1001".into(),
                operation: Some(10),
                item: "STEEL-2MM".into(),
                qty: Decimal::new(25, 0),
                uom: "kg".into(),
                state: RequisitionState::Approved,
                decided_by: Some("wang.supervisor".into()),
                comment: Some("ok, coil end was bad".into()),
            }],
        }
    }

    #[test]
    fn plan_json() {
        insta::assert_json_snapshot!(sample_plan());
    }
}

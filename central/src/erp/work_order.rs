//! Work orders without I/O: the state machine ([`transition`]), what an edge event does to an
//! order's progress ([`OrderProgress`]), and which edge runs which part of an order
//! ([`plan_contents`]). The store loads and saves; these decide.
//!
//! States and the actions that move them (✗: refused, the state stays):
//!
//! | from \ action | release | hold | unhold | cancel | close | change | start | report | complete |
//! | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
//! | planned | released | ✗ | ✗ | cancelled | ✗ | planned | ✗ | ✗ | ✗ |
//! | released | ✗ | on_hold | ✗ | cancelled | ✗ | released | in_progress | in_progress | completed |
//! | in_progress | ✗ | on_hold | ✗ | cancelled | ✗ | in_progress | in_progress | in_progress | completed |
//! | on_hold | ✗ | ✗ | back to released / in_progress | cancelled | ✗ | on_hold | ✗ | ✗ | completed |
//! | completed | ✗ | ✗ | ✗ | ✗ | closed | ✗ | ✗ | completed | ✗ |
//! | closed, cancelled | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ | ✗ |
//!
//! `release`, `hold`, `unhold`, `cancel`, `close` and `change` (quantity, priority, due date)
//! come from people through the API, where a refusal is a 409. `start`, `report` (good,
//! scrap or material issued) and `complete` come from edge events, which are facts: ingest
//! never refuses them. A refused event transition leaves the state as it is and is recorded
//! as a warning on the order, and the counts are booked all the same. A report on a released
//! order moves it to in_progress, since a line whose PLC write-back is off never says
//! `work_order_started`. A completion while on hold is taken as the fact it is.

use protocol::{
    EdgeId, ItemId, PlanComponent, PlanContent, PlanLot, PlanMadeFor, PlanOperation, PlanWorkOrder,
    WorkOrderId,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The state of a work order, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Planned,
    Released,
    InProgress,
    OnHold,
    Completed,
    Closed,
    Cancelled,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Planned,
        State::Released,
        State::InProgress,
        State::OnHold,
        State::Completed,
        State::Closed,
        State::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Planned => "planned",
            State::Released => "released",
            State::InProgress => "in_progress",
            State::OnHold => "on_hold",
            State::Completed => "completed",
            State::Closed => "closed",
            State::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether an order in this state is in its line's plan.
    pub fn is_dispatched(self) -> bool {
        matches!(self, State::Released | State::InProgress | State::OnHold)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state with what `unhold` returns to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Planned,
    Released,
    InProgress,
    /// `resume` is [`State::Released`] or [`State::InProgress`].
    OnHold {
        resume: Resume,
    },
    Completed,
    Closed,
    Cancelled,
}

/// The state an order on hold goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resume {
    Released,
    InProgress,
}

impl Resume {
    pub fn state(self) -> State {
        match self {
            Resume::Released => State::Released,
            Resume::InProgress => State::InProgress,
        }
    }
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Planned,
        Status::Released,
        Status::InProgress,
        Status::OnHold {
            resume: Resume::Released,
        },
        Status::OnHold {
            resume: Resume::InProgress,
        },
        Status::Completed,
        Status::Closed,
        Status::Cancelled,
    ];

    pub fn state(self) -> State {
        match self {
            Status::Planned => State::Planned,
            Status::Released => State::Released,
            Status::InProgress => State::InProgress,
            Status::OnHold { .. } => State::OnHold,
            Status::Completed => State::Completed,
            Status::Closed => State::Closed,
            Status::Cancelled => State::Cancelled,
        }
    }

    /// What `unhold` returns to, for an order on hold.
    pub fn held_from(self) -> Option<State> {
        match self {
            Status::OnHold { resume } => Some(resume.state()),
            _ => None,
        }
    }

    /// From the stored `(state, held_from)`; `None` if they do not make a status.
    pub fn from_parts(state: State, held_from: Option<State>) -> Option<Status> {
        Some(match (state, held_from) {
            (State::Planned, None) => Status::Planned,
            (State::Released, None) => Status::Released,
            (State::InProgress, None) => Status::InProgress,
            (State::OnHold, Some(State::Released)) => Status::OnHold {
                resume: Resume::Released,
            },
            (State::OnHold, Some(State::InProgress)) => Status::OnHold {
                resume: Resume::InProgress,
            },
            (State::Completed, None) => Status::Completed,
            (State::Closed, None) => Status::Closed,
            (State::Cancelled, None) => Status::Cancelled,
            _ => return None,
        })
    }
}

/// What is asked of a work order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Release,
    Hold,
    Unhold,
    Cancel,
    Close,
    /// A change of quantity, priority or due date.
    Change,
    /// Edge event: an operation started.
    Start,
    /// Edge event: good or scrap counted, or material issued.
    Report,
    /// Edge event: the line completed the order.
    Complete,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Release,
        Action::Hold,
        Action::Unhold,
        Action::Cancel,
        Action::Close,
        Action::Change,
        Action::Start,
        Action::Report,
        Action::Complete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Release => "release",
            Action::Hold => "hold",
            Action::Unhold => "unhold",
            Action::Cancel => "cancel",
            Action::Close => "close",
            Action::Change => "change",
            Action::Start => "start",
            Action::Report => "report",
            Action::Complete => "complete",
        }
    }

    /// The actions people ask for through `POST /api/v1/work-orders/{id}/{action}`.
    pub fn parse_api(s: &str) -> Option<Action> {
        [
            Action::Release,
            Action::Hold,
            Action::Unhold,
            Action::Cancel,
            Action::Close,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }

    /// The states from which the action is allowed, for the refusal's message.
    fn allowed_from(self) -> &'static str {
        match self {
            Action::Release => "a planned order",
            Action::Hold => "a released or in_progress order",
            Action::Unhold => "an order on hold",
            Action::Cancel => "a planned, released, in_progress or on_hold order",
            Action::Close => "a completed order",
            Action::Change => "a planned, released, in_progress or on_hold order",
            Action::Start => "a released or in_progress order",
            Action::Report => "a released, in_progress or completed order",
            Action::Complete => "a released, in_progress or on_hold order",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused transition: the current state and the action, so the message can say both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("work order is {state}; {action} is refused (it needs {})", action.allowed_from())]
pub struct Refused {
    pub state: State,
    pub action: Action,
}

/// The state machine: the status after `action`, or why not.
pub fn transition(status: Status, action: Action) -> Result<Status, Refused> {
    use Action as A;
    use Status as S;
    let next = match (status, action) {
        (S::Planned, A::Release) => S::Released,
        (S::Planned | S::Released | S::InProgress | S::OnHold { .. }, A::Cancel) => S::Cancelled,
        (S::Released, A::Hold) => S::OnHold {
            resume: Resume::Released,
        },
        (S::InProgress, A::Hold) => S::OnHold {
            resume: Resume::InProgress,
        },
        (S::OnHold { resume }, A::Unhold) => match resume {
            Resume::Released => S::Released,
            Resume::InProgress => S::InProgress,
        },
        (S::Completed, A::Close) => S::Closed,
        (s @ (S::Planned | S::Released | S::InProgress | S::OnHold { .. }), A::Change) => s,
        (S::Released | S::InProgress, A::Start | A::Report) => S::InProgress,
        (S::Completed, A::Report) => S::Completed,
        (S::Released | S::InProgress | S::OnHold { .. }, A::Complete) => S::Completed,
        (status, action) => {
            return Err(Refused {
                state: status.state(),
                action,
            });
        }
    };
    Ok(next)
}

/// Per-operation counts of an order, as ingest keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpProgress {
    pub operation: u32,
    pub good: u64,
    pub scrap: u64,
    pub started: bool,
}

/// Material issued to an order, per component item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedComponent {
    pub item: String,
    pub uom: String,
    pub issued: Decimal,
    /// What the order needs (zero for a component not in its BOM copy).
    pub required: Decimal,
    /// Not in the order's BOM copy: booked all the same, with nothing required.
    pub unplanned: bool,
}

/// What an edge event says about a work order, taken out of the event before the writer
/// lock is held.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderFact {
    Started {
        work_order: String,
        operation: Option<u32>,
    },
    Reported {
        work_order: String,
        operation: Option<u32>,
        good: u64,
        scrap: u64,
    },
    Issued {
        work_order: String,
        item: String,
        qty: Decimal,
        uom: String,
    },
    Completed {
        work_order: String,
    },
}

impl OrderFact {
    pub fn of(kind: &protocol::EventKind) -> Option<OrderFact> {
        use protocol::EventKind as K;
        Some(match kind {
            K::WorkOrderStarted {
                work_order,
                operation,
            } => OrderFact::Started {
                work_order: work_order.0.clone(),
                operation: *operation,
            },
            K::ProductionReported {
                work_order: Some(work_order),
                operation,
                good,
                scrap,
            } => OrderFact::Reported {
                work_order: work_order.0.clone(),
                operation: *operation,
                good: *good,
                scrap: *scrap,
            },
            K::MaterialIssued {
                work_order,
                item,
                qty,
                uom,
                ..
            } => OrderFact::Issued {
                work_order: work_order.0.clone(),
                item: item.0.clone(),
                qty: *qty,
                uom: uom.clone(),
            },
            K::WorkOrderCompleted { work_order } => OrderFact::Completed {
                work_order: work_order.0.clone(),
            },
            _ => return None,
        })
    }

    pub fn work_order(&self) -> &str {
        match self {
            OrderFact::Started { work_order, .. }
            | OrderFact::Reported { work_order, .. }
            | OrderFact::Issued { work_order, .. }
            | OrderFact::Completed { work_order } => work_order,
        }
    }
}

/// One order's progress while a batch is applied: loaded once, changed by each fact, saved
/// once. Warnings say what the facts did not fit (an operation started out of sequence, an
/// event the state refuses, an issue in another unit of measure).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderProgress {
    pub status: Status,
    /// Routing order (ascending operation numbers).
    pub operations: Vec<OpProgress>,
    pub components: Vec<IssuedComponent>,
    pub dirty: bool,
    pub warnings: Vec<String>,
    /// The order's quantity and the plant's tolerance: beyond them, production and issues
    /// are warned about (over-production, over-issue). `None`: not checked.
    pub limits: Option<OrderLimits>,
}

/// What an order may take before central warns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLimits {
    pub qty: Decimal,
    pub tolerance_pct: Decimal,
}

impl OrderLimits {
    /// `base` plus the tolerance.
    pub fn allowed(&self, base: Decimal) -> Decimal {
        base.checked_mul(Decimal::ONE_HUNDRED + self.tolerance_pct)
            .and_then(|v| v.checked_div(Decimal::ONE_HUNDRED))
            .unwrap_or(Decimal::MAX)
    }
}

impl OrderProgress {
    pub fn new(
        status: Status,
        operations: Vec<OpProgress>,
        components: Vec<IssuedComponent>,
    ) -> OrderProgress {
        OrderProgress {
            status,
            operations,
            components,
            dirty: false,
            warnings: Vec::new(),
            limits: None,
        }
    }

    pub fn with_limits(mut self, limits: OrderLimits) -> OrderProgress {
        self.limits = Some(limits);
        self
    }

    fn step(&mut self, action: Action, what: &str) {
        match transition(self.status, action) {
            Ok(next) => {
                if next != self.status {
                    self.status = next;
                    self.dirty = true;
                }
            }
            Err(refused) => self
                .warnings
                .push(format!("{what} while the order is {}", refused.state)),
        }
    }

    /// Applies one fact about this order.
    pub fn apply(&mut self, fact: &OrderFact) {
        match fact {
            OrderFact::Started { operation, .. } => {
                self.step(Action::Start, "work_order_started");
                let Some(op) = operation else { return };
                let Some(i) = self.operations.iter().position(|o| o.operation == *op) else {
                    self.warnings.push(format!(
                        "operation {op} started, but it is not in the order's routing"
                    ));
                    return;
                };
                let silent: Vec<String> = self.operations[..i]
                    .iter()
                    .filter(|o| o.good == 0 && o.scrap == 0)
                    .map(|o| o.operation.to_string())
                    .collect();
                if !silent.is_empty() {
                    self.warnings.push(format!(
                        "operation {op} started before operation {} reported anything; expected the routing's sequence",
                        silent.join(", ")
                    ));
                }
                if !self.operations[i].started {
                    self.operations[i].started = true;
                    self.dirty = true;
                }
            }
            OrderFact::Reported {
                operation,
                good,
                scrap,
                ..
            } => {
                self.step(Action::Report, "production_reported");
                let index = match operation {
                    Some(op) => self.operations.iter().position(|o| o.operation == *op),
                    None if self.operations.len() == 1 => Some(0),
                    None => None,
                };
                match index {
                    Some(i) => {
                        let o = &mut self.operations[i];
                        let before = o.good;
                        o.good = o.good.saturating_add(*good);
                        o.scrap = o.scrap.saturating_add(*scrap);
                        self.dirty = true;
                        let (after, op) = (o.good, o.operation);
                        if let Some(limits) = self.limits {
                            let allowed = limits.allowed(limits.qty);
                            if Decimal::from(before) <= allowed && Decimal::from(after) > allowed {
                                self.warnings.push(format!(
                                    "over-production: {after} good at operation {op} against an order of {} (tolerance {}%)",
                                    limits.qty.normalize(),
                                    limits.tolerance_pct.normalize()
                                ));
                            }
                        }
                    }
                    None => self.warnings.push(match operation {
                        Some(op) => format!(
                            "{good} good, {scrap} scrap reported for operation {op}, which is not in the order's routing; not booked"
                        ),
                        None => format!(
                            "{good} good, {scrap} scrap reported without an operation on an order of several operations; not booked"
                        ),
                    }),
                }
            }
            OrderFact::Issued { item, qty, uom, .. } => {
                self.step(Action::Report, "material_issued");
                match self.components.iter_mut().find(|c| &c.item == item) {
                    Some(c) if &c.uom != uom => self.warnings.push(format!(
                        "{qty} {uom} of {item} issued, but the order counts {item} in {}; not booked",
                        c.uom
                    )),
                    Some(c) => match c.issued.checked_add(*qty) {
                        Some(issued) => {
                            let before = c.issued;
                            c.issued = issued;
                            self.dirty = true;
                            if let Some(limits) = self.limits
                                && !c.unplanned
                            {
                                let allowed = limits.allowed(c.required);
                                if before <= allowed && issued > allowed {
                                    self.warnings.push(format!(
                                        "over-issue: {} {uom} of {item} issued against {} required (tolerance {}%)",
                                        issued.normalize(),
                                        c.required.normalize(),
                                        limits.tolerance_pct.normalize()
                                    ));
                                }
                            }
                        }
                        None => self.warnings.push(format!(
                            "{qty} {uom} of {item} issued, but the order's issued quantity would overflow what a quantity holds; not booked"
                        )),
                    },
                    None => {
                        self.components.push(IssuedComponent {
                            item: item.clone(),
                            uom: uom.clone(),
                            issued: *qty,
                            required: Decimal::ZERO,
                            unplanned: true,
                        });
                        self.dirty = true;
                    }
                }
            }
            OrderFact::Completed { .. } => self.step(Action::Complete, "work_order_completed"),
        }
    }
}

/// Required quantity of a component: `qty_per × order qty × (1 + scrap % / 100)`, rounded
/// up to [`super::mrp::QTY_DP`] places; `None` on overflow.
pub fn required_qty(qty_per: Decimal, order_qty: Decimal, scrap_pct: Decimal) -> Option<Decimal> {
    let factor = Decimal::ONE.checked_add(scrap_pct.checked_div(Decimal::ONE_HUNDRED)?)?;
    let q = qty_per.checked_mul(order_qty)?.checked_mul(factor)?;
    Some(
        q.round_dp_with_strategy(
            super::mrp::QTY_DP,
            rust_decimal::RoundingStrategy::AwayFromZero,
        )
        .normalize(),
    )
}

/// An order as the plans need it.
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchOrder {
    pub work_order: String,
    pub item: String,
    pub qty: Decimal,
    pub uom: String,
    pub due: chrono::NaiveDate,
    pub priority: i32,
    pub line: String,
    pub on_hold: bool,
    /// The customer order lines it is made for (MRP's pegging), at most
    /// [`protocol::bounds::MAX_PLAN_LIST`].
    pub made_for: Vec<PlanMadeFor>,
    /// Ascending operation numbers.
    pub operations: Vec<DispatchOperation>,
    /// `(item, required qty, uom)`, BOM order.
    pub components: Vec<(String, Decimal, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DispatchOperation {
    pub operation: u32,
    pub description: String,
    /// The work center's line; `None`: the order's line.
    pub line: Option<String>,
    pub station: Option<String>,
}

impl DispatchOrder {
    fn op_line<'a>(&'a self, op: &'a DispatchOperation) -> &'a str {
        op.line.as_deref().unwrap_or(&self.line)
    }

    /// The edges that run some operation of this order (through the lines' edges).
    pub fn edges(&self, line_edges: &HashMap<String, String>) -> BTreeSet<String> {
        let mut edges: BTreeSet<String> = self
            .operations
            .iter()
            .filter_map(|op| line_edges.get(self.op_line(op)).cloned())
            .collect();
        if self.operations.is_empty()
            && let Some(edge) = line_edges.get(&self.line)
        {
            edges.insert(edge.clone());
        }
        edges
    }

    /// The order as `edge` sees it: the operations on its lines, the components (required
    /// quantities) on the order's first operation (components have no operation of their own
    /// in the BOM, so they go where material is issued first), and the PLC's target.
    pub fn for_edge(&self, edge: &str, line_edges: &HashMap<String, String>) -> PlanWorkOrder {
        let first = self.operations.first().map(|op| op.operation);
        let operations = self
            .operations
            .iter()
            .filter(|op| line_edges.get(self.op_line(op)).map(String::as_str) == Some(edge))
            .map(|op| {
                let (allowed, components) = if Some(op.operation) == first {
                    (
                        self.components
                            .iter()
                            .map(|(item, _, _)| ItemId::from(item.as_str()))
                            .collect(),
                        self.components
                            .iter()
                            .map(|(item, qty, uom)| PlanComponent {
                                item: item.as_str().into(),
                                qty: *qty,
                                uom: uom.clone(),
                            })
                            .collect(),
                    )
                } else {
                    (Vec::new(), Vec::new())
                };
                PlanOperation {
                    operation: op.operation,
                    description: op.description.clone(),
                    station: op.station.as_deref().map(Into::into),
                    allowed_components: allowed,
                    components,
                    skill: None,
                }
            })
            .collect();
        let target = match i64::try_from(self.qty.normalize()) {
            Ok(n) if self.qty.fract().is_zero() => serde_json::json!(n),
            _ => serde_json::json!(f64::try_from(self.qty).unwrap_or(0.0)),
        };
        PlanWorkOrder {
            work_order: WorkOrderId::from(self.work_order.as_str()),
            item: self.item.as_str().into(),
            qty: self.qty,
            uom: self.uom.clone(),
            due: self.due,
            priority: self.priority,
            operations,
            plc_parameters: BTreeMap::from([
                ("target_qty".to_owned(), target),
                (
                    "work_order".to_owned(),
                    serde_json::json!(self.work_order.as_str()),
                ),
            ]),
            on_hold: self.on_hold,
            made_for: self.made_for.clone(),
        }
    }
}

/// Most lots one plan carries. A plan goes down whole on every change, and the edge keeps it
/// in memory and looks lots up by id, so it is bounded; 10 000 lots are about 1.5 MB of JSON.
/// Beyond it, held lots are kept first (a hold is an explicit "do not use"), then the
/// soonest-expiring; a lot left out is one the edge accepts on its own checks.
pub const MAX_PLAN_LOTS: usize = 10_000;

/// The plan content of each of `edges`: every dispatched order with an operation on that
/// edge's lines (priority, then due date, then id); the GTINs (`gtins`: item → 14-digit
/// GTIN) of the components those orders allow, so the edge can read suppliers' GS1 labels;
/// and of `lots` (held or expiring lots) those of the same components, at most
/// [`MAX_PLAN_LOTS`].
pub fn plan_contents(
    edges: &BTreeSet<String>,
    orders: &[DispatchOrder],
    line_edges: &HashMap<String, String>,
    lots: &[PlanLot],
    gtins: &HashMap<String, String>,
) -> BTreeMap<EdgeId, PlanContent> {
    let mut sorted: Vec<&DispatchOrder> = orders.iter().collect();
    sorted.sort_by(|a, b| {
        (a.priority, a.due, &a.work_order).cmp(&(b.priority, b.due, &b.work_order))
    });
    let mut ranked: Vec<&PlanLot> = lots.iter().collect();
    // Held first, then by expiry (none last), then by id, so the bound cuts the same way on
    // every publication.
    ranked.sort_by(|a, b| {
        (!a.on_hold, a.expires.is_none(), a.expires, &a.lot).cmp(&(
            !b.on_hold,
            b.expires.is_none(),
            b.expires,
            &b.lot,
        ))
    });
    edges
        .iter()
        .map(|edge| {
            let work_orders: Vec<PlanWorkOrder> = sorted
                .iter()
                .filter(|o| o.edges(line_edges).contains(edge))
                .map(|o| o.for_edge(edge, line_edges))
                .collect();
            let components: BTreeSet<&str> = work_orders
                .iter()
                .flat_map(|w| &w.operations)
                .flat_map(|op| &op.allowed_components)
                .map(ItemId::as_str)
                .collect();
            let plan_gtins = components
                .iter()
                .filter_map(|item| {
                    gtins
                        .get(*item)
                        .map(|gtin| (gtin.clone(), ItemId::from(*item)))
                })
                .collect();
            let plan_lots = ranked
                .iter()
                .filter(|l| components.contains(l.item.as_str()))
                .take(MAX_PLAN_LOTS)
                .map(|l| (*l).clone())
                .collect();
            (
                EdgeId(edge.clone()),
                PlanContent {
                    work_orders,
                    lots: plan_lots,
                    gtins: plan_gtins,
                    // The registry is added where every plan is published (the store).
                    operators: Vec::new(),
                    rules: None,
                    // Open sales order lines are added where every plan is published.
                    shipments: Vec::new(),
                    requisitions: Vec::new(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use Status as S;

    const HR: S = S::OnHold {
        resume: Resume::Released,
    };
    const HP: S = S::OnHold {
        resume: Resume::InProgress,
    };

    /// The whole table: every (status, action) pair and its expected outcome (`None`:
    /// refused). Written out, not derived, so a change to [`transition`] shows up here.
    fn expected(status: S, action: A) -> Option<S> {
        match (status, action) {
            (S::Planned, A::Release) => Some(S::Released),
            (S::Planned, A::Cancel) => Some(S::Cancelled),
            (S::Planned, A::Change) => Some(S::Planned),
            (S::Planned, _) => None,
            (S::Released, A::Hold) => Some(HR),
            (S::Released, A::Cancel) => Some(S::Cancelled),
            (S::Released, A::Change) => Some(S::Released),
            (S::Released, A::Start | A::Report) => Some(S::InProgress),
            (S::Released, A::Complete) => Some(S::Completed),
            (S::Released, _) => None,
            (S::InProgress, A::Hold) => Some(HP),
            (S::InProgress, A::Cancel) => Some(S::Cancelled),
            (S::InProgress, A::Change | A::Start | A::Report) => Some(S::InProgress),
            (S::InProgress, A::Complete) => Some(S::Completed),
            (S::InProgress, _) => None,
            (S::OnHold { resume }, A::Unhold) => Some(match resume {
                Resume::Released => S::Released,
                Resume::InProgress => S::InProgress,
            }),
            (s @ S::OnHold { .. }, A::Change) => Some(s),
            (S::OnHold { .. }, A::Cancel) => Some(S::Cancelled),
            (S::OnHold { .. }, A::Complete) => Some(S::Completed),
            (S::OnHold { .. }, _) => None,
            (S::Completed, A::Close) => Some(S::Closed),
            (S::Completed, A::Report) => Some(S::Completed),
            (S::Completed, _) => None,
            (S::Closed | S::Cancelled, _) => None,
        }
    }

    #[test]
    fn every_state_and_action_pair() {
        let mut n = 0;
        for status in Status::ALL {
            for action in Action::ALL {
                let got = transition(status, action);
                match expected(status, action) {
                    Some(next) => assert_eq!(got, Ok(next), "{status:?} {action:?}"),
                    None => {
                        let refused = got.expect_err("refused");
                        assert_eq!(refused.state, status.state());
                        assert_eq!(refused.action, action);
                        let message = refused.to_string();
                        assert!(
                            message.contains(status.state().as_str())
                                && message.contains(action.as_str()),
                            "{message}"
                        );
                    }
                }
                n += 1;
            }
        }
        assert_eq!(n, 8 * 9);
    }

    #[test]
    fn refusal_names_the_state_and_the_action() {
        let e = transition(S::Completed, A::Release).unwrap_err();
        assert_eq!(
            e.to_string(),
            "work order is completed; release is refused (it needs a planned order)"
        );
    }

    #[test]
    fn stored_parts_round_trip() {
        for status in Status::ALL {
            assert_eq!(
                Status::from_parts(status.state(), status.held_from()),
                Some(status)
            );
        }
        assert_eq!(Status::from_parts(State::OnHold, None), None);
        assert_eq!(
            Status::from_parts(State::Released, Some(State::Released)),
            None
        );
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Some(state));
        }
    }

    fn progress(status: S) -> OrderProgress {
        OrderProgress::new(
            status,
            [10, 20, 30]
                .into_iter()
                .map(|operation| OpProgress {
                    operation,
                    good: 0,
                    scrap: 0,
                    started: false,
                })
                .collect(),
            vec![IssuedComponent {
                item: "STEEL".into(),
                uom: "kg".into(),
                issued: Decimal::ZERO,
                required: Decimal::new(255, 1),
                unplanned: false,
            }],
        )
    }

    fn started(op: u32) -> OrderFact {
        OrderFact::Started {
            work_order: "WO".into(),
            operation: Some(op),
        }
    }

    fn reported(op: u32, good: u64, scrap: u64) -> OrderFact {
        OrderFact::Reported {
            work_order: "WO".into(),
            operation: Some(op),
            good,
            scrap,
        }
    }

    #[test]
    fn operation_started_out_of_sequence_is_a_warning_not_a_refusal() {
        let mut p = progress(S::Released);
        p.apply(&started(20));
        assert_eq!(p.status, S::InProgress);
        assert!(p.operations[1].started);
        assert_eq!(
            p.warnings,
            [
                "operation 20 started before operation 10 reported anything; expected the routing's sequence"
            ]
        );
        let mut p = progress(S::Released);
        p.apply(&started(10));
        p.apply(&reported(10, 5, 1));
        p.apply(&started(20));
        p.apply(&started(30));
        assert_eq!(
            p.warnings,
            [
                "operation 30 started before operation 20 reported anything; expected the routing's sequence"
            ]
        );
        p.apply(&started(40));
        assert!(p.warnings[1].contains("not in the order's routing"));
    }

    #[test]
    fn counts_and_issues_accumulate_and_odd_facts_warn() {
        let mut p = progress(S::Released);
        p.apply(&reported(10, 5, 1));
        p.apply(&reported(10, 7, 0));
        assert_eq!(p.status, S::InProgress, "a report starts a released order");
        assert_eq!((p.operations[0].good, p.operations[0].scrap), (12, 1));
        let issue = |item: &str, qty: i64, uom: &str| OrderFact::Issued {
            work_order: "WO".into(),
            item: item.into(),
            qty: Decimal::from(qty),
            uom: uom.into(),
        };
        p.apply(&issue("STEEL", 3, "kg"));
        p.apply(&issue("STEEL", 4, "kg"));
        p.apply(&issue("STEEL", 4, "lb"));
        p.apply(&issue("BOLT", 2, "ea"));
        assert_eq!(p.components[0].issued, Decimal::from(7));
        assert!(p.components[1].unplanned);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(p.warnings[0].contains("lb"));
        p.apply(&reported(99, 1, 0));
        assert!(p.warnings[1].contains("operation 99"));
        p.apply(&OrderFact::Completed {
            work_order: "WO".into(),
        });
        assert_eq!(p.status, S::Completed);
        p.apply(&started(10));
        assert_eq!(p.status, S::Completed);
        assert_eq!(
            p.warnings[2],
            "work_order_started while the order is completed"
        );
    }

    /// Issue 11: an issued quantity that would overflow (a database holding issues from before
    /// central bounded events) is a warning, never a panic, and the sum stays as it was.
    #[test]
    fn issue_11_an_issue_that_would_overflow_is_a_warning() {
        let mut p = progress(S::InProgress);
        let issue = |qty: Decimal| OrderFact::Issued {
            work_order: "WO".into(),
            item: "GREASE".into(),
            qty,
            uom: "kg".into(),
        };
        let huge: Decimal = "79228162514264337593543950335".parse().unwrap();
        p.apply(&issue(huge));
        p.apply(&issue(huge));
        p.apply(&issue(Decimal::ONE));
        assert_eq!(p.components[1].item, "GREASE");
        assert_eq!(p.components[1].issued, huge);
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(
            p.warnings[0].contains("would overflow"),
            "{}",
            p.warnings[0]
        );
    }

    /// Issue 12: 701 good against an order of 500 and 95 kg of steel against 25.5 kg passed
    /// without a word. Crossing the order (plus the plant's tolerance) is a warning, once.
    #[test]
    fn over_production_and_over_issue_beyond_the_tolerance_are_warned_once() {
        let mut p = progress(S::Released).with_limits(OrderLimits {
            qty: Decimal::from(500),
            tolerance_pct: Decimal::from(10),
        });
        p.apply(&reported(10, 550, 0));
        assert!(p.warnings.is_empty(), "within 10%: {:?}", p.warnings);
        p.apply(&reported(10, 151, 0));
        p.apply(&reported(10, 5, 0));
        assert_eq!(
            p.warnings,
            ["over-production: 701 good at operation 10 against an order of 500 (tolerance 10%)"]
        );
        let issue = |qty: i64| OrderFact::Issued {
            work_order: "WO".into(),
            item: "STEEL".into(),
            qty: Decimal::from(qty),
            uom: "kg".into(),
        };
        p.apply(&issue(25));
        assert_eq!(p.warnings.len(), 1, "25 kg of 25.5 required: fine");
        p.apply(&issue(70));
        p.apply(&issue(1));
        assert_eq!(
            p.warnings[1],
            "over-issue: 95 kg of STEEL issued against 25.5 required (tolerance 10%)"
        );
        assert_eq!(p.warnings.len(), 2);
        // Without limits (an order loaded without its plant's rules) nothing is checked.
        let mut p = progress(S::Released);
        p.apply(&reported(10, 10_000, 0));
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn required_quantity_includes_scrap_and_rounds_up() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(required_qty(d("0.5"), d("500"), d("2")), Some(d("255")));
        assert_eq!(
            required_qty(d("1"), d("1"), d("0.00001")),
            Some(d("1.000001"))
        );
        assert_eq!(required_qty(Decimal::MAX, d("10"), d("0")), None);
    }

    #[test]
    fn plans_split_operations_by_line_and_put_components_on_the_first() {
        let order = DispatchOrder {
            work_order: "WO-1".into(),
            item: "FRAME".into(),
            qty: Decimal::from(40),
            uom: "ea".into(),
            due: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            priority: 2,
            line: "L1".into(),
            on_hold: false,
            made_for: Vec::new(),
            operations: vec![
                DispatchOperation {
                    operation: 10,
                    description: "cut".into(),
                    line: None,
                    station: Some("st-10".into()),
                },
                DispatchOperation {
                    operation: 20,
                    description: "paint".into(),
                    line: Some("L2".into()),
                    station: Some("paint-1".into()),
                },
            ],
            components: vec![("STEEL".into(), Decimal::from(20), "kg".into())],
        };
        let lines = HashMap::from([
            ("L1".to_owned(), "edge-1".to_owned()),
            ("L2".to_owned(), "edge-2".to_owned()),
        ]);
        let edges = order.edges(&lines);
        assert_eq!(edges.len(), 2);
        let plans = plan_contents(
            &edges,
            std::slice::from_ref(&order),
            &lines,
            &[],
            &HashMap::new(),
        );
        let one = &plans[&EdgeId::from("edge-1")].work_orders[0];
        assert_eq!(one.operations.len(), 1);
        assert_eq!(
            one.operations[0].station.as_ref().unwrap().as_str(),
            "st-10"
        );
        assert_eq!(one.operations[0].components[0].qty, Decimal::from(20));
        assert_eq!(one.plc_parameters["target_qty"], serde_json::json!(40));
        let two = &plans[&EdgeId::from("edge-2")].work_orders[0];
        assert_eq!(two.operations[0].operation, 20);
        assert!(two.operations[0].allowed_components.is_empty());
    }

    #[test]
    fn plans_carry_their_components_gtins_and_lots_held_first_then_soonest_expiring() {
        let order = DispatchOrder {
            work_order: "WO-1".into(),
            item: "FRAME".into(),
            qty: Decimal::from(1),
            uom: "ea".into(),
            due: "2026-12-01".parse().unwrap(),
            priority: 1,
            line: "L1".into(),
            on_hold: false,
            made_for: Vec::new(),
            operations: vec![DispatchOperation {
                operation: 10,
                description: "cut".into(),
                line: None,
                station: Some("st-10".into()),
            }],
            components: vec![("STEEL".into(), Decimal::from(1), "kg".into())],
        };
        let lines = HashMap::from([("L1".to_owned(), "edge-1".to_owned())]);
        let day = |d: u32| {
            chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap() + chrono::Days::new(d.into())
        };
        let lot = |id: String, item: &str, expires: Option<u32>, on_hold: bool| PlanLot {
            lot: id.as_str().into(),
            item: item.into(),
            expires: expires.map(day),
            on_hold,
            hold_reason: None,
            location: None,
            on_hand: None,
        };
        // More expiring lots than a plan carries, newest first, plus a held lot without
        // expiry and lots of an item no order uses.
        let mut lots: Vec<PlanLot> = (0..MAX_PLAN_LOTS as u32 + 5)
            .rev()
            .map(|i| lot(format!("S-{i:05}"), "STEEL", Some(i), false))
            .collect();
        lots.push(lot("HELD".into(), "STEEL", None, true));
        lots.push(lot("P-1".into(), "PAINT", Some(0), true));
        let gtins = HashMap::from([
            ("STEEL".to_owned(), "04006381333931".to_owned()),
            ("PAINT".to_owned(), "00036000291452".to_owned()),
        ]);
        let edges = order.edges(&lines);
        let plans = plan_contents(&edges, std::slice::from_ref(&order), &lines, &lots, &gtins);
        let plan = &plans[&EdgeId::from("edge-1")];
        assert_eq!(
            plan.gtins,
            BTreeMap::from([("04006381333931".to_owned(), ItemId::from("STEEL"))])
        );
        assert_eq!(plan.lots.len(), MAX_PLAN_LOTS);
        assert_eq!(plan.lots[0].lot.as_str(), "HELD");
        assert_eq!(plan.lots[1].lot.as_str(), "S-00000");
        assert_eq!(plan.lots[1].expires, Some(day(0)));
        let last = &plan.lots[MAX_PLAN_LOTS - 1];
        assert_eq!(last.expires, Some(day(MAX_PLAN_LOTS as u32 - 2)));
        assert!(plan.lots.iter().all(|l| l.item.as_str() == "STEEL"));
    }
}

//! Promise dates for a sales order's lines (issue 16): available-to-promise first, then
//! capable-to-promise, as a pure function of the plant's state. No I/O, no store, no clock.
//!
//! [`Plant::new`] indexes what the plant has and knows ([`PlantInput`]): items, BOM, routings,
//! work centers with their capacity and the load already on them, stock, scheduled receipts
//! and what is already held. [`Plant::promise`] answers, for an order's lines, a
//! [`LinePromise`] each: the parts the line is delivered in (quantity and date), the promised
//! date (the last part's), and what limits it ([`Limit`], a stable code with parameters, and
//! an English sentence). [`promise`] does both in one call.
//!
//! ## What it promises
//!
//! 1. **Available-to-promise.** An item's supply is its on-hand stock (available, not held) on
//!    `as_of`, plus its scheduled receipts (open purchase orders, open work orders' remaining
//!    quantity) on their due dates, minus what is already held (other orders' lines, open work
//!    orders' components still to issue) on theirs. Anything dated before `as_of` counts on
//!    `as_of` (an overdue receipt is assumed to arrive today, as MRP's expedite does). What
//!    can be promised on a date `d` is the least cumulative balance on `d` or after: taking it
//!    never breaks a later hold. The order's lines take from it in line order, so two lines of
//!    one item share it.
//! 2. A line is needed on its requested date, or on `as_of` if that is earlier (nothing is
//!    promised before today). What ATP has on that date is taken at once (a `stock` part). The
//!    rest comes from whichever is earlier (a tie goes to the receipt: nothing new is made):
//!    - the first later date on which ATP covers the whole line: a part on that date, limited
//!      by the scheduled receipt that completes it;
//!    - **capable-to-promise**: a buy item arrives `lead_time_days` working days after `as_of`
//!      (from the first working day on or after it); a make item is made: its components (in
//!      the BOM revision in effect on `as_of`, quantities with item and line scrap, rounded
//!      up to [`QTY_DP`] places) are each obtained the same way, recursively, from `as_of`;
//!      production starts on the first working day on or after the last of them arrives, and
//!      the routing's operations, in operation order, take `setup + run × qty` hours of their
//!      work centers' free capacity (capacity per working day less the load already there
//!      less what earlier lines of this order took) day by day, an operation starting on the
//!      day the one before it ends. The part is ready on the day the last operation ends. A
//!      make item without a routing takes its `lead_time_days` after the start instead. A
//!      phantom is always made, with lead time 0.
//! 3. A line is therefore delivered in one or two parts (stock now, the rest later), and its
//!    promised date is the last part's; a part never falls before the line's need date.
//! 4. **What limits a date** ([`Limit`]): `stock`; `scheduled_receipt {reference, date}`;
//!    `lead_time {item, days}`; `component {item, limit}` (the last component to arrive,
//!    with what limits it, nested); `capacity {work_center, first_free_day}` (the operation
//!    the load already on its work center delayed most; without such a delay, the one that
//!    took longest).
//!
//! ## What it leaves out
//!
//! - It reserves nothing. The answer is what the plant can do now; reservation happens when
//!   the order is confirmed, which the store does by writing holds (and they then feed the
//!   next call's [`PlantInput::holds`]).
//! - It plans no lot sizes, safety stock, supplier choice or alternative routings, and does
//!   not move scheduled receipts (MRP's action messages do that).
//! - Capacity is finite but simple: one calendar for every work center, whole working days,
//!   no shifts or efficiency; operations of one make do not overlap, and components are made
//!   as early as they can be (forward only; nothing is scheduled backwards from the need
//!   date, so a make may take capacity earlier than a later need strictly requires).
//! - A line's failure (an item beyond the horizon with no receipt) fails the whole answer.
//! - Dates it computes fall on working days; a date from stock is the need date as it is.
//!
//! ## Bounds
//!
//! At most [`MAX_LINES`] lines an order; BOMs at most [`MAX_BOM_DEPTH`] levels deep and
//! acyclic (a cycle is an error naming its items, found when the plant is indexed); dates
//! searched within [`HORIZON_WORKING_DAYS`] working days of `as_of` (beyond it:
//! [`PromiseError::BeyondHorizon`]); quantities and hours in checked arithmetic (an overflow
//! is [`PromiseError::Overflow`]). Nothing panics on input. The answer is a function of the
//! input: no hash-map order leaks into it.

use crate::erp::calendar::Calendar;
use crate::erp::mrp::{self, BomLine, Dated, Item, ItemKind, OnHand};
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub mod bench;
#[cfg(test)]
mod tests;

/// Decimal places exploded quantities are rounded (up) to, as MRP does.
pub const QTY_DP: u32 = mrp::QTY_DP;
/// Most lines an order may have.
pub const MAX_LINES: usize = 500;
/// Most BOM levels below an item.
pub const MAX_BOM_DEPTH: usize = 32;
/// How far dates are searched: about three years of five-day weeks.
pub const HORIZON_WORKING_DAYS: usize = 780;

/// One routing operation of a make item.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub item: String,
    /// Operations run in ascending order of this number.
    pub operation: u32,
    pub work_center: String,
    pub setup_hours: Decimal,
    pub run_hours_per_unit: Decimal,
}

/// A work center's capacity on each working day.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkCenter {
    pub work_center: String,
    pub hours_per_day: Decimal,
}

/// Hours already scheduled on a work center on a day.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    pub work_center: String,
    pub date: NaiveDate,
    pub hours: Decimal,
}

/// What the plant has and knows, as the store reads it. Quantities in base units.
#[derive(Debug, Clone, Default)]
pub struct PlantInput {
    /// Today: nothing is promised before it.
    pub as_of: NaiveDate,
    pub calendar: Calendar,
    pub items: Vec<Item>,
    pub bom: Vec<BomLine>,
    pub routings: Vec<Operation>,
    pub work_centers: Vec<WorkCenter>,
    /// Work centers' load already scheduled; a load on a non-working day, before `as_of` or
    /// beyond the horizon counts nowhere.
    pub loads: Vec<Load>,
    /// Stock available (not held), all lots and locations together.
    pub on_hand: Vec<OnHand>,
    /// Open purchase orders and open work orders' remaining quantity, on their due dates.
    pub receipts: Vec<Dated>,
    /// What is already held: other orders' lines, components still to issue to open work
    /// orders.
    pub holds: Vec<Dated>,
}

/// A line of the order to promise.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    pub item: String,
    pub qty: Decimal,
    pub requested: NaiveDate,
}

/// What limits a date: a stable code (`code`) with its parameters, for the API to translate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Limit {
    /// Stock available on the date.
    Stock,
    /// The scheduled receipt that completes the quantity.
    ScheduledReceipt { reference: String, date: NaiveDate },
    /// The item is bought (or made without a routing) in this many working days.
    LeadTime { item: String, days: u32 },
    /// The last component to arrive, and what limits it.
    Component { item: String, limit: Box<Limit> },
    /// The work center that delays the make, and its first day with free capacity.
    Capacity {
        work_center: String,
        first_free_day: NaiveDate,
    },
}

impl Limit {
    /// The code alone: `stock`, `scheduled_receipt`, `lead_time`, `component`, `capacity`.
    pub fn code(&self) -> &'static str {
        match self {
            Limit::Stock => "stock",
            Limit::ScheduledReceipt { .. } => "scheduled_receipt",
            Limit::LeadTime { .. } => "lead_time",
            Limit::Component { .. } => "component",
            Limit::Capacity { .. } => "capacity",
        }
    }

    /// An English sentence (without the final full stop).
    pub fn sentence(&self) -> String {
        match self {
            Limit::Stock => "covered by stock".to_owned(),
            Limit::ScheduledReceipt { reference, date } => {
                format!("waits for scheduled receipt {reference} due on {date}")
            }
            Limit::LeadTime { item, days } => {
                format!("{item} has a lead time of {}", working_days(*days))
            }
            Limit::Component { item, limit } => {
                format!("waits for component {item}, which {}", limit.clause())
            }
            Limit::Capacity {
                work_center,
                first_free_day,
            } => format!("work center {work_center} has free capacity from {first_free_day}"),
        }
    }

    fn clause(&self) -> String {
        match self {
            Limit::Stock => "is in stock".to_owned(),
            Limit::ScheduledReceipt { reference, date } => {
                format!("waits for scheduled receipt {reference} due on {date}")
            }
            Limit::LeadTime { days, .. } => format!("has a lead time of {}", working_days(*days)),
            Limit::Component { .. } => self.sentence(),
            Limit::Capacity {
                work_center,
                first_free_day,
            } => format!("is made on work center {work_center}, free from {first_free_day}"),
        }
    }
}

fn working_days(days: u32) -> String {
    format!("{days} working day{}", if days == 1 { "" } else { "s" })
}

/// A quantity of a line and the date it can be delivered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    #[serde(serialize_with = "mrp::qty_number")]
    pub qty: Decimal,
    pub date: NaiveDate,
    pub limit: Limit,
}

/// The answer for one order line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinePromise {
    /// The line's position in the order, from 0.
    pub line: usize,
    pub item: String,
    #[serde(serialize_with = "mrp::qty_number")]
    pub qty: Decimal,
    pub requested: NaiveDate,
    /// The last part's date.
    pub promised: NaiveDate,
    /// One or two parts, by date: what stock gives on the need date, then the rest.
    pub parts: Vec<Part>,
    /// The last part's limit.
    pub limit: Limit,
    /// The promise in an English sentence.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromiseError {
    #[error("{what} names item {item:?}, which is not in the item master")]
    UnknownItem { what: String, item: String },
    #[error("routing of item {item:?} names work center {work_center:?}, which is not known")]
    UnknownWorkCenter { item: String, work_center: String },
    #[error("item {0:?} appears twice in the item master")]
    DuplicateItem(String),
    #[error("the bom has a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("the bom of item {item:?} is more than {max} levels deep")]
    TooDeep { item: String, max: usize },
    #[error("the order has {0} lines; expected at most {max}", max = MAX_LINES)]
    TooManyLines(usize),
    #[error("{0}")]
    Invalid(String),
    #[error("quantities or hours of item {0:?} overflow")]
    Overflow(String),
    #[error(
        "item {item:?} cannot be had within {days} working days of {as_of}",
        days = HORIZON_WORKING_DAYS
    )]
    BeyondHorizon { item: String, as_of: NaiveDate },
}

/// One operation, indexed.
#[derive(Debug, Clone)]
struct Op {
    work_center: usize,
    setup_hours: Decimal,
    run_hours_per_unit: Decimal,
}

#[derive(Debug, Clone)]
struct Node {
    name: String,
    kind: ItemKind,
    phantom: bool,
    lead_time_days: u32,
    scrap_pct: Decimal,
    /// Component, qty_per, line scrap %.
    components: Vec<(usize, Decimal, Decimal)>,
    ops: Vec<Op>,
}

/// A step of an item's cumulative balance: from `date` on (until the next point), supply less
/// holds so far is `cum`.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    date: NaiveDate,
    cum: Decimal,
    /// The first scheduled receipt dated `date`, if any.
    receipt: Option<usize>,
}

/// An item's cumulative ATP: points by date, the first on `as_of`; `floor[i]` is the least
/// `cum` from point `i` on, i.e. what can be promised from its date.
#[derive(Debug, Clone, PartialEq, Default)]
struct Curve {
    points: Vec<Point>,
    floor: Vec<Decimal>,
}

impl Curve {
    fn empty(as_of: NaiveDate) -> Curve {
        let mut c = Curve {
            points: vec![Point {
                date: as_of,
                cum: Decimal::ZERO,
                receipt: None,
            }],
            floor: Vec::new(),
        };
        c.refloor();
        c
    }

    fn refloor(&mut self) {
        self.floor.clear();
        self.floor.resize(self.points.len(), Decimal::ZERO);
        let mut least: Option<Decimal> = None;
        for (i, p) in self.points.iter().enumerate().rev() {
            let m = least.map_or(p.cum, |l| l.min(p.cum));
            self.floor[i] = m;
            least = Some(m);
        }
    }

    /// The point in effect on `date` (`date` is never before the first point).
    fn index(&self, date: NaiveDate) -> usize {
        self.points
            .partition_point(|p| p.date <= date)
            .saturating_sub(1)
    }

    /// What can be promised on `date`, never below 0.
    fn available(&self, date: NaiveDate) -> Decimal {
        self.floor
            .get(self.index(date))
            .copied()
            .unwrap_or(Decimal::ZERO)
            .max(Decimal::ZERO)
    }

    /// The first point after `date` from which `qty` can be promised.
    fn first_covering(&self, qty: Decimal, date: NaiveDate) -> Option<&Point> {
        let i = self.index(date);
        (i + 1..self.points.len())
            .find(|&j| self.floor[j] >= qty)
            .map(|j| &self.points[j])
    }

    /// Takes `qty` from `date` on.
    fn take(&mut self, qty: Decimal, date: NaiveDate) -> Option<()> {
        let mut i = self.index(date);
        if self.points[i].date < date {
            let cum = self.points[i].cum;
            i += 1;
            self.points.insert(
                i,
                Point {
                    date,
                    cum,
                    receipt: None,
                },
            );
        }
        for p in &mut self.points[i..] {
            p.cum = p.cum.checked_sub(qty)?;
        }
        self.refloor();
        Some(())
    }
}

/// The plant, indexed for promising: build once, promise many orders.
#[derive(Debug, Clone)]
pub struct Plant {
    as_of: NaiveDate,
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    curves: Vec<Option<Curve>>,
    empty_curve: Curve,
    receipt_refs: Vec<String>,
    work_centers: Vec<String>,
    /// Hours per working day of each work center.
    capacity: Vec<Decimal>,
    /// Free hours per work center per working day (`working_days`' index).
    free: Vec<Vec<Decimal>>,
    /// The working days from the first on or after `as_of`, [`HORIZON_WORKING_DAYS`] of them
    /// (fewer if the calendar ends).
    working_days: Vec<NaiveDate>,
}

/// Promises an order on a plant indexed for this call alone.
pub fn promise(input: &PlantInput, lines: &[OrderLine]) -> Result<Vec<LinePromise>, PromiseError> {
    Plant::new(input)?.promise(lines)
}

/// Work an open work order still has to do, as the store knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenWork {
    pub work_order: String,
    pub due: NaiveDate,
    /// In operation order: the work center and the hours still to run there.
    pub operations: Vec<(String, Decimal)>,
}

/// Calendar days [`backward_loads`] walks back from a due date at most, per operation.
const MAX_BACKWARD_DAYS: u32 = 3_660;

/// The load open work orders put on the work centers (for [`PlantInput::loads`]): each
/// order's operations scheduled backwards from its due date, the last ending on the due date
/// (or the working day before it) and each earlier one ending on the day the next starts, day
/// by day in what capacity the orders due earlier left free. Orders go in due-date order (then
/// id), so the earliest due get the days nearest them. What does not fit between `as_of` and
/// the due date is late: it takes the first free capacity from `as_of` on, forwards.
/// Operations on a work center without `hours_per_day` are left out, and so are days before
/// `as_of`.
pub fn backward_loads(
    calendar: &Calendar,
    as_of: NaiveDate,
    work_centers: &[WorkCenter],
    work: &[OpenWork],
) -> Vec<Load> {
    let capacity: HashMap<&str, Decimal> = work_centers
        .iter()
        .map(|w| (w.work_center.as_str(), w.hours_per_day))
        .collect();
    let first_working = {
        let mut d = as_of;
        let mut steps = 0;
        while !calendar.is_working(d) && steps < MAX_BACKWARD_DAYS {
            match d.succ_opt() {
                Some(next) => d = next,
                None => break,
            }
            steps += 1;
        }
        d
    };
    let mut used: HashMap<(&str, NaiveDate), Decimal> = HashMap::new();
    let mut sorted: Vec<&OpenWork> = work.iter().collect();
    sorted.sort_by(|a, b| (a.due, &a.work_order).cmp(&(b.due, &b.work_order)));
    for order in sorted {
        // The day the operation after this one starts: this one ends on it or before.
        let mut end = order.due;
        for (wc, hours) in order.operations.iter().rev() {
            let Some(&per_day) = capacity.get(wc.as_str()) else {
                continue;
            };
            let mut left = (*hours).max(Decimal::ZERO);
            let mut day = end;
            let mut start = end;
            let mut steps = 0;
            while left > Decimal::ZERO && day >= as_of && steps < MAX_BACKWARD_DAYS {
                if calendar.is_working(day) {
                    let slot = used.entry((wc.as_str(), day)).or_insert(Decimal::ZERO);
                    let free = per_day
                        .checked_sub(*slot)
                        .unwrap_or(Decimal::ZERO)
                        .max(Decimal::ZERO);
                    let take = free.min(left);
                    if take > Decimal::ZERO {
                        // take <= free <= per_day - slot and take <= left: neither overflows.
                        *slot = slot.checked_add(take).unwrap_or(Decimal::MAX);
                        left = left.checked_sub(take).unwrap_or(Decimal::ZERO);
                        start = day;
                    }
                }
                match day.pred_opt() {
                    Some(d) => day = d,
                    None => break,
                }
                steps += 1;
            }
            if left > Decimal::ZERO {
                // Late already: the rest takes the first free capacity from today on.
                start = first_working;
                let mut day = first_working;
                let mut steps = 0;
                while left > Decimal::ZERO {
                    let last = steps >= MAX_BACKWARD_DAYS;
                    if calendar.is_working(day) || last {
                        let slot = used.entry((wc.as_str(), day)).or_insert(Decimal::ZERO);
                        let free = per_day
                            .checked_sub(*slot)
                            .unwrap_or(Decimal::ZERO)
                            .max(Decimal::ZERO);
                        // Beyond the bound, whatever is left lands on the last day.
                        let take = if last { left } else { free.min(left) };
                        *slot = slot.checked_add(take).unwrap_or(Decimal::MAX);
                        left = left.checked_sub(take).unwrap_or(Decimal::ZERO);
                    }
                    match day.succ_opt() {
                        Some(d) => day = d,
                        None => break,
                    }
                    steps += 1;
                }
            }
            end = start;
        }
    }
    let mut loads: Vec<Load> = used
        .into_iter()
        .filter(|((_, date), hours)| *date >= as_of && *hours > Decimal::ZERO)
        .map(|((wc, date), hours)| Load {
            work_center: wc.to_owned(),
            date,
            hours,
        })
        .collect();
    loads.sort_by(|a, b| (&a.work_center, a.date).cmp(&(&b.work_center, b.date)));
    loads
}

fn ceil_qty(q: Decimal) -> Decimal {
    q.round_dp_with_strategy(QTY_DP, RoundingStrategy::ToPositiveInfinity)
}

fn invalid_qty(what: &str, item: &str, qty: Decimal) -> Option<PromiseError> {
    (qty.is_sign_negative() && !qty.is_zero()).then(|| {
        PromiseError::Invalid(format!(
            "{what} of item {item:?} is {qty}; expected 0 or more"
        ))
    })
}

impl Plant {
    pub fn new(input: &PlantInput) -> Result<Plant, PromiseError> {
        let as_of = input.as_of;
        let mut index = HashMap::with_capacity(input.items.len());
        let mut nodes = Vec::with_capacity(input.items.len());
        for item in &input.items {
            if index.insert(item.item.clone(), nodes.len()).is_some() {
                return Err(PromiseError::DuplicateItem(item.item.clone()));
            }
            if let Some(e) = invalid_qty("scrap %", &item.item, item.scrap_pct) {
                return Err(e);
            }
            nodes.push(Node {
                name: item.item.clone(),
                kind: item.kind,
                phantom: item.phantom && item.kind == ItemKind::Make,
                lead_time_days: if item.phantom { 0 } else { item.lead_time_days },
                scrap_pct: item.scrap_pct,
                components: Vec::new(),
                ops: Vec::new(),
            });
        }
        let find = |what: &str, item: &str| {
            index
                .get(item)
                .copied()
                .ok_or_else(|| PromiseError::UnknownItem {
                    what: what.to_owned(),
                    item: item.to_owned(),
                })
        };

        // The BOM revision in effect on `as_of`: per parent, the lines with the latest
        // `effective_from` on or before it, unless their `effective_to` is past.
        let mut latest_from: HashMap<usize, Option<NaiveDate>> = HashMap::new();
        let mut bom = Vec::with_capacity(input.bom.len());
        for line in &input.bom {
            let p = find("a bom line", &line.parent)?;
            let c = find("a bom line", &line.component)?;
            if line.qty_per.is_sign_negative() || line.qty_per.is_zero() {
                return Err(PromiseError::Invalid(format!(
                    "bom line {} -> {} has qty_per {}; expected more than 0",
                    line.parent, line.component, line.qty_per
                )));
            }
            if let Some(e) = invalid_qty("bom line scrap %", &line.parent, line.scrap_pct) {
                return Err(e);
            }
            if line.effective_from.is_some_and(|f| f > as_of) {
                continue;
            }
            let slot = latest_from.entry(p).or_insert(line.effective_from);
            *slot = (*slot).max(line.effective_from);
            bom.push((p, c, line));
        }
        for (p, c, line) in bom {
            if latest_from.get(&p) == Some(&line.effective_from)
                && line.effective_to.is_none_or(|t| t >= as_of)
                && nodes[p].kind == ItemKind::Make
            {
                nodes[p].components.push((c, line.qty_per, line.scrap_pct));
            }
        }
        check_depth(&nodes)?;

        let mut work_centers = Vec::with_capacity(input.work_centers.len());
        let mut wc_index = HashMap::with_capacity(input.work_centers.len());
        for wc in &input.work_centers {
            if wc.hours_per_day.is_sign_negative() && !wc.hours_per_day.is_zero() {
                return Err(PromiseError::Invalid(format!(
                    "work center {:?} has {} hours a day; expected 0 or more",
                    wc.work_center, wc.hours_per_day
                )));
            }
            if wc_index
                .insert(wc.work_center.clone(), work_centers.len())
                .is_some()
            {
                return Err(PromiseError::Invalid(format!(
                    "work center {:?} appears twice",
                    wc.work_center
                )));
            }
            work_centers.push(wc.work_center.clone());
        }
        let mut routings: Vec<&Operation> = input.routings.iter().collect();
        routings.sort_by(|a, b| a.item.cmp(&b.item).then(a.operation.cmp(&b.operation)));
        for op in routings {
            let i = find("a routing", &op.item)?;
            let wc =
                *wc_index
                    .get(&op.work_center)
                    .ok_or_else(|| PromiseError::UnknownWorkCenter {
                        item: op.item.clone(),
                        work_center: op.work_center.clone(),
                    })?;
            if let Some(e) = invalid_qty("setup hours", &op.item, op.setup_hours)
                .or_else(|| invalid_qty("run hours", &op.item, op.run_hours_per_unit))
            {
                return Err(e);
            }
            nodes[i].ops.push(Op {
                work_center: wc,
                setup_hours: op.setup_hours,
                run_hours_per_unit: op.run_hours_per_unit,
            });
        }

        let mut working_days = Vec::with_capacity(HORIZON_WORKING_DAYS);
        let mut d = Some(as_of);
        // A working weekday comes at least once a week; holidays are finitely many.
        let mut steps = 0usize;
        while let Some(day) = d
            && working_days.len() < HORIZON_WORKING_DAYS
            && steps < HORIZON_WORKING_DAYS * 7 + 366 * 4
        {
            if input.calendar.is_working(day) {
                working_days.push(day);
            }
            d = day.succ_opt();
            steps += 1;
        }
        let mut free: Vec<Vec<Decimal>> = input
            .work_centers
            .iter()
            .map(|wc| vec![wc.hours_per_day; working_days.len()])
            .collect();
        for load in &input.loads {
            let Some(&wc) = wc_index.get(&load.work_center) else {
                return Err(PromiseError::Invalid(format!(
                    "a load names work center {:?}, which is not known",
                    load.work_center
                )));
            };
            let Ok(k) = working_days.binary_search(&load.date) else {
                continue;
            };
            let slot = &mut free[wc][k];
            *slot = slot.checked_sub(load.hours).ok_or_else(|| {
                PromiseError::Overflow(format!("load of work center {}", load.work_center))
            })?;
        }

        // ATP curves: events by item, then by date.
        let mut events: Vec<(usize, NaiveDate, Decimal, Option<usize>)> =
            Vec::with_capacity(input.on_hand.len() + input.receipts.len() + input.holds.len());
        for oh in &input.on_hand {
            let i = find("stock", &oh.item)?;
            if let Some(e) = invalid_qty("stock", &oh.item, oh.qty) {
                return Err(e);
            }
            events.push((i, as_of, oh.qty, None));
        }
        let mut receipt_refs = Vec::with_capacity(input.receipts.len());
        for r in &input.receipts {
            let i = find("a scheduled receipt", &r.item)?;
            if let Some(e) = invalid_qty("a scheduled receipt", &r.item, r.qty) {
                return Err(e);
            }
            events.push((i, r.due.max(as_of), r.qty, Some(receipt_refs.len())));
            receipt_refs.push(r.reference.clone());
        }
        for h in &input.holds {
            let i = find("a hold", &h.item)?;
            if let Some(e) = invalid_qty("a hold", &h.item, h.qty) {
                return Err(e);
            }
            events.push((i, h.due.max(as_of), -h.qty, None));
        }
        // Stable: receipts of one day keep their input order.
        events.sort_by_key(|e| (e.0, e.1));
        let mut curves: Vec<Option<Curve>> = vec![None; nodes.len()];
        let mut k = 0;
        while k < events.len() {
            let item = events[k].0;
            let mut curve = Curve::empty(as_of);
            curve.points.clear();
            let mut cum = Decimal::ZERO;
            while k < events.len() && events[k].0 == item {
                let (_, date, qty, receipt) = events[k];
                cum = cum
                    .checked_add(qty)
                    .ok_or_else(|| PromiseError::Overflow(nodes[item].name.clone()))?;
                match curve.points.last_mut() {
                    Some(p) if p.date == date => {
                        p.cum = cum;
                        p.receipt = p.receipt.or(receipt);
                    }
                    _ => {
                        if curve.points.is_empty() && date > as_of {
                            curve.points.push(Point {
                                date: as_of,
                                cum: Decimal::ZERO,
                                receipt: None,
                            });
                        }
                        curve.points.push(Point { date, cum, receipt });
                    }
                }
                k += 1;
            }
            curve.refloor();
            curves[item] = Some(curve);
        }

        Ok(Plant {
            as_of,
            nodes,
            index,
            curves,
            empty_curve: Curve::empty(as_of),
            receipt_refs,
            work_centers,
            capacity: input.work_centers.iter().map(|w| w.hours_per_day).collect(),
            free,
            working_days,
        })
    }

    /// Promise dates for an order's lines, in line order. Reserves nothing.
    pub fn promise(&self, lines: &[OrderLine]) -> Result<Vec<LinePromise>, PromiseError> {
        if lines.len() > MAX_LINES {
            return Err(PromiseError::TooManyLines(lines.len()));
        }
        let mut session = Session {
            plant: self,
            curves: HashMap::new(),
            used: HashMap::new(),
            undo: Vec::new(),
        };
        let mut out = Vec::with_capacity(lines.len());
        for (n, line) in lines.iter().enumerate() {
            let item = *self
                .index
                .get(&line.item)
                .ok_or_else(|| PromiseError::UnknownItem {
                    what: format!("order line {}", n + 1),
                    item: line.item.clone(),
                })?;
            if line.qty.is_sign_negative() || line.qty.is_zero() {
                return Err(PromiseError::Invalid(format!(
                    "order line {} has quantity {}; expected more than 0",
                    n + 1,
                    line.qty
                )));
            }
            let need_by = line.requested.max(self.as_of);
            let parts = session.obtain(item, line.qty, need_by, 0)?;
            session.undo.clear();
            let last = parts.last().cloned().unwrap_or(Part {
                qty: line.qty,
                date: need_by,
                limit: Limit::Stock,
            });
            let message = message(line, &parts, &last);
            out.push(LinePromise {
                line: n,
                item: line.item.clone(),
                qty: line.qty,
                requested: line.requested,
                promised: last.date,
                parts,
                limit: last.limit,
                message,
            });
        }
        Ok(out)
    }
}

impl Plant {
    /// Working days an operation of `hours` would span on its work center with no other
    /// load (0: it ends on the day it starts).
    fn unloaded_days(&self, wc: usize, hours: Decimal) -> usize {
        use rust_decimal::prelude::ToPrimitive;
        let capacity = self.capacity.get(wc).copied().unwrap_or(Decimal::ZERO);
        if hours.is_zero() || capacity <= Decimal::ZERO {
            return 0;
        }
        hours
            .checked_div(capacity)
            .and_then(|d| d.ceil().to_usize())
            .map_or(usize::MAX, |d| d.saturating_sub(1))
    }
}

fn message(line: &OrderLine, parts: &[Part], last: &Part) -> String {
    let when = if last.date <= line.requested {
        format!("promised on the requested date, {}", last.date)
    } else {
        let late = last.date.signed_duration_since(line.requested).num_days();
        format!(
            "promised on {}, {late} day{} after the requested date",
            last.date,
            if late == 1 { "" } else { "s" }
        )
    };
    if parts.len() > 1 {
        let first = &parts[0];
        format!(
            "{when}: {} of {} on {} from stock, the other {} {}",
            first.qty,
            line.qty,
            first.date,
            last.qty,
            with(&last.limit)
        )
    } else {
        format!("{when}: {}", last.limit.sentence())
    }
}

fn with(limit: &Limit) -> String {
    match limit {
        Limit::Stock => "from stock".to_owned(),
        _ => format!("as it {}", limit.clause()),
    }
}

/// Longest BOM path (in levels) and cycles, before anything recurses.
fn check_depth(nodes: &[Node]) -> Result<(), PromiseError> {
    let n = nodes.len();
    let mut indegree = vec![0u32; n];
    for node in nodes {
        for &(c, _, _) in &node.components {
            indegree[c] += 1;
        }
    }
    let mut level = vec![0usize; n];
    let mut queue: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = queue.pop() {
        seen += 1;
        for &(c, _, _) in &nodes[i].components {
            level[c] = level[c].max(level[i] + 1);
            if level[c] > MAX_BOM_DEPTH {
                return Err(PromiseError::TooDeep {
                    item: nodes[c].name.clone(),
                    max: MAX_BOM_DEPTH,
                });
            }
            indegree[c] -= 1;
            if indegree[c] == 0 {
                queue.push(c);
            }
        }
    }
    if seen < n {
        let edges = nodes.iter().flat_map(|p| {
            p.components
                .iter()
                .map(move |&(c, _, _)| (p.name.as_str(), nodes[c].name.as_str()))
        });
        return Err(PromiseError::Cycle(
            mrp::find_bom_cycle(edges).unwrap_or_default(),
        ));
    }
    Ok(())
}

enum Undo {
    Curve(usize, Option<Curve>),
    Used((usize, usize), Option<Decimal>),
}

/// One order's promising: what its lines took so far, over the plant's state.
struct Session<'p> {
    plant: &'p Plant,
    curves: HashMap<usize, Curve>,
    used: HashMap<(usize, usize), Decimal>,
    /// What to put back if a capable-to-promise answer is dropped for a receipt.
    undo: Vec<Undo>,
}

/// When and why a made or bought quantity is ready.
struct Ready {
    date: NaiveDate,
    limit: Limit,
}

impl Session<'_> {
    fn curve(&self, item: usize) -> &Curve {
        self.curves.get(&item).unwrap_or_else(|| {
            self.plant
                .curves
                .get(item)
                .and_then(Option::as_ref)
                .unwrap_or(&self.plant.empty_curve)
        })
    }

    fn take(&mut self, item: usize, qty: Decimal, date: NaiveDate) -> Result<(), PromiseError> {
        let mut curve = self.curve(item).clone();
        curve
            .take(qty, date)
            .ok_or_else(|| PromiseError::Overflow(self.plant.nodes[item].name.clone()))?;
        let before = self.curves.insert(item, curve);
        self.undo.push(Undo::Curve(item, before));
        Ok(())
    }

    fn rollback(&mut self, mark: usize) {
        while self.undo.len() > mark {
            match self.undo.pop() {
                Some(Undo::Curve(item, before)) => match before {
                    Some(c) => {
                        self.curves.insert(item, c);
                    }
                    None => {
                        self.curves.remove(&item);
                    }
                },
                Some(Undo::Used(key, before)) => match before {
                    Some(h) => {
                        self.used.insert(key, h);
                    }
                    None => {
                        self.used.remove(&key);
                    }
                },
                None => break,
            }
        }
    }

    /// `qty` of `item` needed on `need_by`: the parts it comes in.
    fn obtain(
        &mut self,
        item: usize,
        qty: Decimal,
        need_by: NaiveDate,
        depth: usize,
    ) -> Result<Vec<Part>, PromiseError> {
        if depth > MAX_BOM_DEPTH {
            return Err(PromiseError::TooDeep {
                item: self.plant.nodes[item].name.clone(),
                max: MAX_BOM_DEPTH,
            });
        }
        let plant = self.plant;
        let overflow = || PromiseError::Overflow(plant.nodes[item].name.clone());
        if plant.nodes[item].phantom {
            let ready = self.capable(item, qty, depth)?;
            return Ok(vec![Part {
                qty,
                date: ready.date.max(need_by),
                limit: ready.limit,
            }]);
        }
        let curve = self.curve(item);
        let now = curve.available(need_by).min(qty);
        let later = curve
            .first_covering(qty, need_by)
            .map(|p| (p.date, p.receipt));
        let mut parts = Vec::with_capacity(2);
        if !now.is_zero() {
            self.take(item, now, need_by)?;
            parts.push(Part {
                qty: now,
                date: need_by,
                limit: Limit::Stock,
            });
        }
        let rest = qty.checked_sub(now).ok_or_else(overflow)?;
        if rest.is_zero() {
            return Ok(parts);
        }
        let mark = self.undo.len();
        let made = match self.capable(item, rest, depth) {
            Ok(ready) => Some(ready),
            Err(PromiseError::BeyondHorizon { .. }) if later.is_some() => None,
            Err(e) => return Err(e),
        };
        match (later, made) {
            (Some((date, receipt)), made) if made.as_ref().is_none_or(|m| date <= m.date) => {
                self.rollback(mark);
                self.take(item, rest, date)?;
                let limit = match receipt {
                    Some(r) => Limit::ScheduledReceipt {
                        reference: self.plant.receipt_refs[r].clone(),
                        date,
                    },
                    // A later date with more available and no receipt on it: only a hold
                    // ending can do that, and holds only take. Name stock.
                    None => Limit::Stock,
                };
                parts.push(Part {
                    qty: rest,
                    date,
                    limit,
                });
            }
            (_, Some(ready)) => parts.push(Part {
                qty: rest,
                date: ready.date.max(need_by),
                limit: ready.limit,
            }),
            (_, None) => {
                return Err(PromiseError::BeyondHorizon {
                    item: self.plant.nodes[item].name.clone(),
                    as_of: self.plant.as_of,
                });
            }
        }
        Ok(parts)
    }

    fn beyond(&self, item: usize) -> PromiseError {
        PromiseError::BeyondHorizon {
            item: self.plant.nodes[item].name.clone(),
            as_of: self.plant.as_of,
        }
    }

    fn working_day(&self, item: usize, k: usize) -> Result<NaiveDate, PromiseError> {
        self.plant
            .working_days
            .get(k)
            .copied()
            .ok_or_else(|| self.beyond(item))
    }

    /// Capable-to-promise: when `qty` of `item`, bought or made now, is ready.
    fn capable(&mut self, item: usize, qty: Decimal, depth: usize) -> Result<Ready, PromiseError> {
        let plant = self.plant;
        let node = &plant.nodes[item];
        let overflow = || PromiseError::Overflow(node.name.clone());
        if node.kind == ItemKind::Buy {
            let days = node.lead_time_days;
            let k = usize::try_from(days).map_err(|_| self.beyond(item))?;
            return Ok(Ready {
                date: self.working_day(item, k)?,
                limit: Limit::LeadTime {
                    item: node.name.clone(),
                    days,
                },
            });
        }
        let scrap = Decimal::ONE
            .checked_add(node.scrap_pct / Decimal::ONE_HUNDRED)
            .ok_or_else(overflow)?;
        let made = ceil_qty(qty.checked_mul(scrap).ok_or_else(overflow)?);
        // Components, each from `as_of`; the start waits for the last.
        let mut start_k = 0usize;
        let mut waited_for: Option<(usize, Limit)> = None;
        for &(c, qty_per, line_scrap) in &node.components {
            let line_scrap = Decimal::ONE
                .checked_add(line_scrap / Decimal::ONE_HUNDRED)
                .ok_or_else(overflow)?;
            let need = made
                .checked_mul(qty_per)
                .and_then(|q| q.checked_mul(line_scrap))
                .map(ceil_qty)
                .ok_or_else(|| PromiseError::Overflow(plant.nodes[c].name.clone()))?;
            let parts = self.obtain(c, need, plant.as_of, depth + 1)?;
            let Some(last) = parts.into_iter().max_by_key(|p| p.date) else {
                continue;
            };
            let k = plant.working_days.partition_point(|&d| d < last.date);
            if k >= plant.working_days.len() {
                return Err(self.beyond(c));
            }
            if k > start_k {
                start_k = k;
                waited_for = Some((c, last.limit));
            }
        }
        let component_limit = |waited_for: Option<(usize, Limit)>| {
            waited_for.map(|(c, limit)| Limit::Component {
                item: plant.nodes[c].name.clone(),
                limit: Box::new(limit),
            })
        };
        if node.ops.is_empty() {
            let days = node.lead_time_days;
            let k = start_k
                .checked_add(usize::try_from(days).map_err(|_| self.beyond(item))?)
                .ok_or_else(|| self.beyond(item))?;
            let limit = match component_limit(waited_for) {
                Some(l) if start_k > 0 => l,
                _ => Limit::LeadTime {
                    item: node.name.clone(),
                    days,
                },
            };
            return Ok(Ready {
                date: self.working_day(item, k)?,
                limit,
            });
        }
        // Operations, one after the other, in free capacity day by day.
        let mut k = start_k;
        // (delay by load, days taken, work center, first free day index)
        let mut worst: Option<(usize, usize, usize, usize)> = None;
        for op in &node.ops {
            let hours = op
                .run_hours_per_unit
                .checked_mul(made)
                .and_then(|h| h.checked_add(op.setup_hours))
                .ok_or_else(overflow)?;
            let ready_k = k;
            let mut first_free: Option<usize> = None;
            let mut left = hours;
            loop {
                let free_k = self.free(op.work_center, k);
                if free_k > Decimal::ZERO {
                    first_free.get_or_insert(k);
                    let take = free_k.min(left);
                    if !take.is_zero() {
                        let key = (op.work_center, k);
                        let before = self.used.get(&key).copied();
                        let now = before
                            .unwrap_or(Decimal::ZERO)
                            .checked_add(take)
                            .ok_or_else(overflow)?;
                        self.used.insert(key, now);
                        self.undo.push(Undo::Used(key, before));
                        left -= take;
                    }
                }
                if left.is_zero() {
                    break;
                }
                k += 1;
                if k >= plant.working_days.len() {
                    return Err(self.beyond(item));
                }
            }
            let unloaded = plant.unloaded_days(op.work_center, hours);
            let taken = k - ready_k;
            let delay = taken.saturating_sub(unloaded);
            let candidate = (delay, taken, op.work_center, first_free.unwrap_or(ready_k));
            if worst.is_none_or(|w| (candidate.0, candidate.1) >= (w.0, w.1)) {
                worst = Some(candidate);
            }
        }
        let date = self.working_day(item, k)?;
        let limit = match (worst, component_limit(waited_for)) {
            (Some((0, ..)), Some(component)) | (None, Some(component)) => component,
            (Some((_, _, wc, first_free)), _) => Limit::Capacity {
                work_center: plant.work_centers[wc].clone(),
                first_free_day: self.working_day(item, first_free)?,
            },
            (None, None) => Limit::LeadTime {
                item: node.name.clone(),
                days: 0,
            },
        };
        Ok(Ready { date, limit })
    }

    /// Free hours of a work center on working day `k`, after the load and this order.
    fn free(&self, wc: usize, k: usize) -> Decimal {
        let base = self
            .plant
            .free
            .get(wc)
            .and_then(|days| days.get(k))
            .copied()
            .unwrap_or(Decimal::ZERO);
        match self.used.get(&(wc, k)) {
            Some(used) => base - *used,
            None => base,
        }
    }
}

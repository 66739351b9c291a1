//! Material requirements planning: a regenerative run as a pure function, [`run`], with no I/O.
//!
//! The run, item by item in low-level-code order (every parent before any of its components):
//!
//! 1. **Gross requirements**: independent demand, dependent demand exploded from the parents'
//!    planned orders (on their start date, `order qty × qty_per × (1 + bom scrap %)`), and the
//!    safety stock as a requirement on the `as_of` date. A requirement dated before `as_of` is
//!    due on `as_of`; one on a non-working day is due on the working day before it.
//! 2. **Netting**, first in first out: on-hand stock first, then the scheduled receipts (open
//!    purchase and work orders) in due-date order, then new planned orders. A scheduled receipt
//!    is assumed movable (the textbook "reschedule in before planning new" rule), so its
//!    first use tells when it is needed: earlier than its due date gives an **expedite**
//!    message, later a **push_out**, never a **cancel**.
//! 3. **Lot sizing** of a shortage, which covers the rest of that day's requirements:
//!    `lfl` orders the shortage; `fixed` orders lots of exactly `lot_size_qty` (several, if one
//!    is not enough, one planned order each, at most [`MAX_FIXED_LOTS_PER_DAY`] a day); `min` orders at least `lot_size_qty`; `multiple` rounds up to a multiple
//!    of `lot_size_qty`. What a lot orders beyond the shortage covers later requirements.
//! 4. **Item scrap** (assembly scrap): the planned quantity is the lot-sized good quantity
//!    `× (1 + scrap %)`; the good quantity is what covers requirements, the planned quantity is
//!    what the components are exploded from.
//! 5. **Lead-time offsetting** on the working [`Calendar`]: `start` is `lead_time_days`
//!    working days before `due`.
//! 6. **Pegging**: a planned order is pegged to the references of the requirements it
//!    covers: independent demand references, `safety_stock:ITEM` where it replenishes the
//!    safety stock of ITEM, and, for dependent demand, either the parent planned order's
//!    `reference` ([`Pegging::Single`], the default: one level, like an order report) or,
//!    through any number of levels, the independent demand and safety stock behind it
//!    ([`Pegging::Full`]). Full pegging's output grows with orders × demands (47 million pegs
//!    on the benchmark plant), so it is asked for, not the default.
//!
//! 7. **Phantoms** (blow-through): a phantom item is never planned or stocked. Its gross
//!    requirements pass straight to its components on the same date (lead time 0), with the
//!    phantom's `qty_per` (and line scrap) multiplied in and the same pegs, so the components
//!    serve the phantom's parent's order. Its on-hand, scheduled receipts, safety stock and
//!    lot sizing are ignored (the store refuses stock and receipts of phantoms).
//! 8. **BOM revisions**: a BOM line carries its revision's effectivity. A make item's planned
//!    order explodes the revision in effect on its start date (a phantom's, on the date of its
//!    requirement): of the lines whose `effective_from` is on or before that date, those with
//!    the latest `effective_from` (none counts as the beginning of time), unless their
//!    `effective_to` (inclusive) is already past. Low-level codes use every revision's lines.
//! 9. **Suppliers**: a buy item with a preferred supplier ([`SupplierItem::preferred`]) is
//!    offset by that supplier's lead time instead of the item's, and its purchase
//!    requisitions name the supplier.
//!
//! 10. **Late starts**: a planned order whose start falls before `as_of` is `late`, with
//!     `days_late` the calendar days from its start to `as_of` (the order is still planned on
//!     its offset start, so its components' requirements stay where the lead time puts them).
//!
//! Quantities are exact decimals; exploded and scrapped quantities are rounded up to
//! [`QTY_DP`] decimal places. Arithmetic is checked: an overflow is an error, not a panic.
//! Make items explode their BOM; buy items never do. Scheduled receipts are not exploded:
//! central passes an open work order's components still to issue as demand of their own,
//! referenced by the order (`store::sql::erp`'s `open_work_orders`).

use super::calendar::Calendar;
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::HashMap;
use std::rc::Rc;

/// Decimal places quantities are rounded (up) to.
pub const QTY_DP: u32 = 6;

/// Most planned orders the `fixed` rule makes for one item on one day; the last of them takes
/// all the lots still needed, so a lot size far below the requirements cannot make millions
/// of orders.
pub const MAX_FIXED_LOTS_PER_DAY: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Make,
    Buy,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Make => "make",
            ItemKind::Buy => "buy",
        }
    }

    pub fn parse(s: &str) -> Option<ItemKind> {
        match s {
            "make" => Some(ItemKind::Make),
            "buy" => Some(ItemKind::Buy),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotSizeRule {
    /// Lot for lot: order exactly the shortage.
    Lfl,
    /// Order lots of exactly `lot_size_qty`.
    Fixed,
    /// Order the shortage, but at least `lot_size_qty`.
    Min,
    /// Order the shortage rounded up to a multiple of `lot_size_qty`.
    Multiple,
}

impl LotSizeRule {
    pub fn as_str(self) -> &'static str {
        match self {
            LotSizeRule::Lfl => "lfl",
            LotSizeRule::Fixed => "fixed",
            LotSizeRule::Min => "min",
            LotSizeRule::Multiple => "multiple",
        }
    }

    pub fn parse(s: &str) -> Option<LotSizeRule> {
        match s {
            "lfl" => Some(LotSizeRule::Lfl),
            "fixed" => Some(LotSizeRule::Fixed),
            "min" => Some(LotSizeRule::Min),
            "multiple" => Some(LotSizeRule::Multiple),
            _ => None,
        }
    }

    /// Whether the rule needs a positive `lot_size_qty`.
    pub fn needs_qty(self) -> bool {
        matches!(self, LotSizeRule::Fixed | LotSizeRule::Multiple)
    }
}

/// An item as MRP needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub item: String,
    pub kind: ItemKind,
    pub lead_time_days: u32,
    pub lot_size_rule: LotSizeRule,
    pub lot_size_qty: Decimal,
    pub safety_stock: Decimal,
    /// Assembly scrap, in percent of the good quantity.
    pub scrap_pct: Decimal,
    /// Blown through, never planned (module docs, point 7). Only make items are phantoms.
    pub phantom: bool,
}

impl Item {
    /// A lot-for-lot item without lead time, safety stock or scrap.
    pub fn new(item: impl Into<String>, kind: ItemKind) -> Item {
        Item {
            item: item.into(),
            kind,
            lead_time_days: 0,
            lot_size_rule: LotSizeRule::Lfl,
            lot_size_qty: Decimal::ZERO,
            safety_stock: Decimal::ZERO,
            scrap_pct: Decimal::ZERO,
            phantom: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BomLine {
    pub parent: String,
    pub component: String,
    pub qty_per: Decimal,
    /// Component scrap, in percent of `qty_per`.
    pub scrap_pct: Decimal,
    /// First day the line's BOM revision is in effect; `None`: since always.
    pub effective_from: Option<NaiveDate>,
    /// Last day (inclusive) the revision is in effect; `None`: until superseded.
    pub effective_to: Option<NaiveDate>,
}

impl BomLine {
    /// A line in effect at all times.
    pub fn new(
        parent: impl Into<String>,
        component: impl Into<String>,
        qty_per: Decimal,
        scrap_pct: Decimal,
    ) -> BomLine {
        BomLine {
            parent: parent.into(),
            component: component.into(),
            qty_per,
            scrap_pct,
            effective_from: None,
            effective_to: None,
        }
    }
}

/// A supplier's terms for an item, as MRP needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct SupplierItem {
    pub supplier: String,
    pub item: String,
    pub lead_time_days: u32,
    /// At most one preferred supplier per item; only the preferred one is used.
    pub preferred: bool,
}

/// Stock of an item (all lots and locations together).
#[derive(Debug, Clone, PartialEq)]
pub struct OnHand {
    pub item: String,
    pub qty: Decimal,
}

/// An independent demand or a scheduled receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct Dated {
    pub item: String,
    pub qty: Decimal,
    pub due: NaiveDate,
    pub reference: String,
}

/// How planned orders for dependent demand are pegged (module docs, point 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pegging {
    /// To the parent planned order's reference.
    #[default]
    Single,
    /// To the independent demands (and safety stocks) at the top, through every level.
    Full,
}

#[derive(Debug, Clone, Default)]
pub struct MrpInput {
    pub pegging: Pegging,
    /// The planning date: nothing is required or received before it.
    pub as_of: NaiveDate,
    pub calendar: Calendar,
    pub items: Vec<Item>,
    pub bom: Vec<BomLine>,
    pub on_hand: Vec<OnHand>,
    pub demands: Vec<Dated>,
    /// Scheduled receipts: open purchase orders and open work orders.
    pub receipts: Vec<Dated>,
    pub supplier_items: Vec<SupplierItem>,
}

/// What `POST /api/v1/mrp/run` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct MrpPlan {
    /// The stored run's number (`/api/v1/mrp/runs/{run}`), once central has stored it;
    /// [`run`] leaves it `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<u64>,
    /// The planning date of the run, once stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<NaiveDate>,
    pub planned_orders: Vec<PlannedOrder>,
    pub messages: Vec<ActionMessage>,
}

/// A planned work order (`make`) or purchase requisition (`buy`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedOrder {
    /// `PLN-000001`, numbered in output order; what components' orders peg to
    /// ([`Pegging::Single`]). The one field beyond the shape.
    pub reference: String,
    pub item: String,
    pub kind: ItemKind,
    #[serde(serialize_with = "qty_number")]
    pub qty: Decimal,
    pub start: NaiveDate,
    pub due: NaiveDate,
    pub pegged_to: Vec<String>,
    /// The preferred supplier of a buy item, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// `start` is before the planning date: the order cannot start on time (its lead time
    /// does not fit before its due date).
    pub late: bool,
    /// How late, in calendar days from `start` to the planning date; present when `late`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_late: Option<u32>,
}

/// Whether an order starting on `start` is late on the planning date `as_of`, and by how many
/// calendar days.
pub fn lateness(start: NaiveDate, as_of: NaiveDate) -> Option<u32> {
    let days = as_of.signed_duration_since(start).num_days();
    (days > 0).then(|| u32::try_from(days).unwrap_or(u32::MAX))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Expedite,
    PushOut,
    Cancel,
}

/// An action message for a scheduled receipt: move it to `date` (expedite, push out), or
/// cancel it (`date` is then its current due date).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionMessage {
    pub kind: MessageKind,
    pub reference: String,
    pub item: String,
    pub date: NaiveDate,
}

/// Serializes a quantity as a JSON number: an integer when it is whole, else a float.
pub fn qty_number<S: Serializer>(qty: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    use rust_decimal::prelude::ToPrimitive;
    if qty.fract().is_zero()
        && let Some(n) = qty.to_i64()
    {
        return serializer.serialize_i64(n);
    }
    serializer.serialize_f64(qty.to_f64().unwrap_or(f64::NAN))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MrpError {
    #[error("{what} names item {item:?}, which is not in the item master")]
    UnknownItem { what: String, item: String },
    #[error("the bom has a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("{0}")]
    Invalid(String),
    #[error("quantities of item {0:?} overflow; expected quantities below 10^20")]
    Overflow(String),
    #[error("lead-time offsetting of item {0:?} runs off the calendar")]
    OffCalendar(String),
}

/// The reference of the planned order at `index` (from 0) of a plan.
pub fn planned_reference(index: usize) -> String {
    format!("PLN-{:06}", index + 1)
}

/// The safety-stock peg of an item.
pub fn safety_stock_peg(item: &str) -> String {
    format!("safety_stock:{item}")
}

/// A gross requirement: dated quantity, pegged to independent demand (ids into the
/// reference table), shared between all requirements exploded from one planned order.
struct Req {
    date: NaiveDate,
    qty: Decimal,
    pegs: Rc<[u32]>,
}

struct Receipt<'a> {
    /// Effective due date (working day, not before `as_of`).
    due: NaiveDate,
    qty: Decimal,
    source: &'a Dated,
    needed: Option<NaiveDate>,
}

/// One BOM revision of a parent: its effectivity and its lines as `(component, qty_per × (1 +
/// scrap %))`.
struct Revision {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    lines: Vec<(usize, Decimal)>,
}

/// The lines in effect on `date` of revisions sorted by `from` (module docs, point 8).
fn effective_lines(revisions: &[Revision], date: NaiveDate) -> &[(usize, Decimal)] {
    let k = revisions.partition_point(|r| r.from.is_none_or(|from| from <= date));
    match k.checked_sub(1).map(|k| &revisions[k]) {
        Some(r) if r.to.is_none_or(|to| date <= to) => &r.lines,
        _ => &[],
    }
}

struct Planned {
    item: usize,
    qty: Decimal,
    start: NaiveDate,
    due: NaiveDate,
    pegs: Vec<u32>,
}

fn overflow(item: &Item) -> MrpError {
    MrpError::Overflow(item.item.clone())
}

fn round_up(qty: Decimal) -> Decimal {
    qty.round_dp_with_strategy(QTY_DP, RoundingStrategy::AwayFromZero)
        .normalize()
}

/// `1 + pct / 100`.
fn scrap_factor(pct: Decimal) -> Option<Decimal> {
    Decimal::ONE.checked_add(pct.checked_div(Decimal::ONE_HUNDRED)?)
}

/// The good quantity of one new lot for a shortage of `net` (> 0).
fn lot_size(rule: LotSizeRule, lot_qty: Decimal, net: Decimal) -> Option<Decimal> {
    match rule {
        LotSizeRule::Lfl => Some(net),
        LotSizeRule::Fixed => Some(lot_qty),
        LotSizeRule::Min => Some(net.max(lot_qty)),
        LotSizeRule::Multiple => net.checked_div(lot_qty)?.ceil().checked_mul(lot_qty),
    }
}

fn check_qty(what: impl FnOnce() -> String, qty: Decimal) -> Result<(), MrpError> {
    if qty.is_sign_negative() && !qty.is_zero() {
        return Err(MrpError::Invalid(format!(
            "{} is {qty}; expected a quantity of at least 0",
            what()
        )));
    }
    Ok(())
}

/// Low-level codes and a processing order (by low-level code, then item id); an error
/// naming a cycle if the BOM has one.
fn low_level_codes<T>(
    items: &[Item],
    children: &[Vec<(usize, T)>],
) -> Result<(Vec<u32>, Vec<usize>), MrpError> {
    let n = items.len();
    let mut indegree = vec![0u32; n];
    for kids in children {
        for &(c, _) in kids {
            indegree[c] += 1;
        }
    }
    let mut llc = vec![0u32; n];
    let mut queue: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = queue.pop() {
        order.push(i);
        for &(c, _) in &children[i] {
            llc[c] = llc[c].max(llc[i] + 1);
            indegree[c] -= 1;
            if indegree[c] == 0 {
                queue.push(c);
            }
        }
    }
    if order.len() < n {
        return Err(MrpError::Cycle(find_cycle(
            |j| items[j].item.clone(),
            children,
            &indegree,
        )));
    }
    order.sort_unstable_by(|&a, &b| {
        llc[a]
            .cmp(&llc[b])
            .then_with(|| items[a].item.cmp(&items[b].item))
    });
    Ok((llc, order))
}

/// Every item left with a positive indegree after Kahn's walk lies on or below a cycle, and
/// each has a parent that is also left: walking parents from one of them must repeat.
fn find_cycle<T>(
    name: impl Fn(usize) -> String,
    children: &[Vec<(usize, T)>],
    indegree: &[u32],
) -> Vec<String> {
    let n = children.len();
    let mut parent_left = vec![usize::MAX; n];
    for (p, kids) in children.iter().enumerate() {
        if indegree[p] == 0 {
            continue;
        }
        for &(c, _) in kids {
            if indegree[c] > 0 {
                parent_left[c] = p;
            }
        }
    }
    let Some(start) = (0..n).find(|&i| indegree[i] > 0 && parent_left[i] != usize::MAX) else {
        return Vec::new();
    };
    let mut seen = vec![usize::MAX; n];
    let mut path = Vec::new();
    let mut i = start;
    while seen[i] == usize::MAX {
        seen[i] = path.len();
        path.push(i);
        i = parent_left[i];
        if i == usize::MAX {
            return Vec::new();
        }
    }
    let mut cycle: Vec<String> = path[seen[i]..].iter().rev().map(|&j| name(j)).collect();
    if let Some(first) = cycle.first().cloned() {
        cycle.push(first);
    }
    cycle
}

/// A cycle in a BOM given as `(parent, component)` edges, as `A -> B -> A`; `None` if the
/// BOM is acyclic.
pub fn find_bom_cycle<'a>(
    edges: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<Vec<String>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    let mut children: Vec<Vec<(usize, ())>> = Vec::new();
    let mut id = |name: &'a str, names: &mut Vec<&'a str>, children: &mut Vec<Vec<(usize, ())>>| {
        *index.entry(name).or_insert_with(|| {
            names.push(name);
            children.push(Vec::new());
            names.len() - 1
        })
    };
    for (parent, component) in edges {
        let p = id(parent, &mut names, &mut children);
        let c = id(component, &mut names, &mut children);
        children[p].push((c, ()));
    }
    let n = names.len();
    let mut indegree = vec![0u32; n];
    for kids in &children {
        for &(c, _) in kids {
            indegree[c] += 1;
        }
    }
    let mut queue: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = queue.pop() {
        seen += 1;
        for &(c, _) in &children[i] {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                queue.push(c);
            }
        }
    }
    (seen < n).then(|| find_cycle(|j| names[j].to_owned(), &children, &indegree))
}

/// Runs MRP. Pure: the same input gives the same plan.
pub fn run(input: &MrpInput) -> Result<MrpPlan, MrpError> {
    let items = &input.items;
    let n = items.len();
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(n);
    for (i, item) in items.iter().enumerate() {
        if index.insert(item.item.as_str(), i).is_some() {
            return Err(MrpError::Invalid(format!(
                "item {:?} appears twice in the item master",
                item.item
            )));
        }
        check_qty(
            || format!("lot_size_qty of {:?}", item.item),
            item.lot_size_qty,
        )?;
        check_qty(
            || format!("safety_stock of {:?}", item.item),
            item.safety_stock,
        )?;
        check_qty(|| format!("scrap_pct of {:?}", item.item), item.scrap_pct)?;
        if item.phantom && item.kind != ItemKind::Make {
            return Err(MrpError::Invalid(format!(
                "item {:?} is a phantom buy item; expected phantoms to be make items",
                item.item
            )));
        }
        if item.lot_size_rule.needs_qty() && item.lot_size_qty.is_zero() {
            return Err(MrpError::Invalid(format!(
                "item {:?} has lot size rule {} with lot_size_qty 0; expected a positive lot_size_qty",
                item.item,
                item.lot_size_rule.as_str()
            )));
        }
    }
    let lookup = |what: &dyn Fn() -> String, item: &str| {
        index
            .get(item)
            .copied()
            .ok_or_else(|| MrpError::UnknownItem {
                what: what(),
                item: item.to_owned(),
            })
    };

    let mut revisions: Vec<Vec<Revision>> = (0..n).map(|_| Vec::new()).collect();
    for line in &input.bom {
        let what = || format!("bom line {} -> {}", line.parent, line.component);
        let p = lookup(&what, &line.parent)?;
        let c = lookup(&what, &line.component)?;
        if line.qty_per <= Decimal::ZERO {
            return Err(MrpError::Invalid(format!(
                "{} has qty_per {}; expected a quantity above 0",
                what(),
                line.qty_per
            )));
        }
        check_qty(|| format!("scrap_pct of {}", what()), line.scrap_pct)?;
        let factor = scrap_factor(line.scrap_pct)
            .and_then(|f| f.checked_mul(line.qty_per))
            .ok_or_else(|| overflow(&items[p]))?;
        let revs = &mut revisions[p];
        let k = match revs.iter().position(|r| r.from == line.effective_from) {
            Some(k) => k,
            None => {
                revs.push(Revision {
                    from: line.effective_from,
                    to: line.effective_to,
                    lines: Vec::new(),
                });
                revs.len() - 1
            }
        };
        if revs[k].to != line.effective_to {
            return Err(MrpError::Invalid(format!(
                "{} is effective to {:?} but another line of its revision to {:?}; expected one effectivity per revision",
                what(),
                line.effective_to,
                revs[k].to
            )));
        }
        revs[k].lines.push((c, factor));
    }
    let (_llc, order) = {
        // Every revision's components, so that low-level codes hold on any date.
        let mut children: Vec<Vec<(usize, ())>> = vec![Vec::new(); n];
        for (p, revs) in revisions.iter_mut().enumerate() {
            revs.sort_by_key(|r| r.from);
            for r in revs.iter() {
                children[p].extend(r.lines.iter().map(|&(c, _)| (c, ())));
            }
            if revs.len() > 1 {
                children[p].sort_unstable_by_key(|&(c, _)| c);
                children[p].dedup_by_key(|&mut (c, _)| c);
            }
        }
        low_level_codes(items, &children)?
    };

    // Lead times: a buy item's preferred supplier's, else the item's (point 9).
    let mut lead_time: Vec<u32> = items.iter().map(|item| item.lead_time_days).collect();
    let mut supplier_of: Vec<Option<&str>> = vec![None; n];
    for terms in &input.supplier_items {
        let i = lookup(&|| format!("supplier {:?}", terms.supplier), &terms.item)?;
        if !terms.preferred || items[i].kind != ItemKind::Buy {
            continue;
        }
        if let Some(other) = supplier_of[i] {
            return Err(MrpError::Invalid(format!(
                "item {:?} has two preferred suppliers, {other:?} and {:?}; expected at most one",
                items[i].item, terms.supplier
            )));
        }
        supplier_of[i] = Some(terms.supplier.as_str());
        lead_time[i] = terms.lead_time_days;
    }
    // Peg ids below `n_refs` are `refs`; from `n_refs` on, planned orders by index.

    // Pegging references: demand references, then safety-stock pegs, interned.
    let mut refs: Vec<String> = Vec::new();
    let mut ref_ids: HashMap<String, u32> = HashMap::new();
    let mut intern = |reference: &str| -> u32 {
        if let Some(&id) = ref_ids.get(reference) {
            return id;
        }
        let id = u32::try_from(refs.len()).unwrap_or(u32::MAX);
        refs.push(reference.to_owned());
        ref_ids.insert(reference.to_owned(), id);
        id
    };

    let cal = &input.calendar;
    let as_of = input.as_of;
    let effective = |date: NaiveDate| cal.on_or_before(date).unwrap_or(date).max(as_of);

    let mut gross: Vec<Vec<Req>> = (0..n).map(|_| Vec::new()).collect();
    // Safety stock first, so that on-hand protects it before serving demand due the same day.
    for (i, item) in items.iter().enumerate() {
        if item.safety_stock > Decimal::ZERO && !item.phantom {
            let peg = intern(&safety_stock_peg(&item.item));
            gross[i].push(Req {
                date: as_of,
                qty: item.safety_stock,
                pegs: Rc::from([peg]),
            });
        }
    }
    for demand in &input.demands {
        let i = lookup(&|| format!("demand {:?}", demand.reference), &demand.item)?;
        check_qty(
            || format!("qty of demand {:?}", demand.reference),
            demand.qty,
        )?;
        if demand.qty.is_zero() {
            continue;
        }
        let peg = intern(&demand.reference);
        gross[i].push(Req {
            date: effective(demand.due),
            qty: demand.qty,
            pegs: Rc::from([peg]),
        });
    }

    let mut on_hand = vec![Decimal::ZERO; n];
    for stock in &input.on_hand {
        let i = lookup(&|| "on-hand stock".to_owned(), &stock.item)?;
        on_hand[i] = on_hand[i]
            .checked_add(stock.qty)
            .ok_or_else(|| overflow(&items[i]))?;
    }

    let mut receipts: Vec<Vec<Receipt<'_>>> = (0..n).map(|_| Vec::new()).collect();
    for receipt in &input.receipts {
        let i = lookup(
            &|| format!("scheduled receipt {:?}", receipt.reference),
            &receipt.item,
        )?;
        check_qty(
            || format!("qty of scheduled receipt {:?}", receipt.reference),
            receipt.qty,
        )?;
        if receipt.qty.is_zero() {
            continue;
        }
        receipts[i].push(Receipt {
            due: effective(receipt.due),
            qty: receipt.qty,
            source: receipt,
            needed: None,
        });
    }

    let n_refs = refs.len();
    let mut planned: Vec<Planned> = Vec::new();
    let mut messages = Vec::new();
    for &i in &order {
        let item = &items[i];
        if item.phantom {
            // Blow-through: the requirements go straight to the components (point 7).
            for req in std::mem::take(&mut gross[i]) {
                for &(c, factor) in effective_lines(&revisions[i], req.date) {
                    let qty = req
                        .qty
                        .checked_mul(factor)
                        .map(round_up)
                        .ok_or_else(|| overflow(item))?;
                    gross[c].push(Req {
                        date: req.date,
                        qty,
                        pegs: req.pegs.clone(),
                    });
                }
            }
            continue;
        }
        let mut reqs = std::mem::take(&mut gross[i]);
        // Stable: the same day keeps safety stock, then demand order, then explosion order.
        reqs.sort_by_key(|r| r.date);
        let rs = &mut receipts[i];
        rs.sort_by(|a, b| {
            a.due
                .cmp(&b.due)
                .then_with(|| a.source.reference.cmp(&b.source.reference))
        });
        let item_scrap = scrap_factor(item.scrap_pct).ok_or_else(|| overflow(item))?;

        let mut on_hand_left = on_hand[i].max(Decimal::ZERO);
        let mut r_idx = 0;
        let mut r_left = rs.first().map_or(Decimal::ZERO, |r| r.qty);
        let first_planned = planned.len();
        let mut po_left = Decimal::ZERO;
        let mut lots_today = 0usize;
        for k in 0..reqs.len() {
            let mut need = reqs[k].qty;
            while need > Decimal::ZERO {
                if on_hand_left > Decimal::ZERO {
                    let take = need.min(on_hand_left);
                    on_hand_left -= take;
                    need -= take;
                } else if r_idx < rs.len() {
                    let receipt = &mut rs[r_idx];
                    receipt.needed.get_or_insert(reqs[k].date);
                    let take = need.min(r_left);
                    r_left -= take;
                    need -= take;
                    if r_left.is_zero() {
                        r_idx += 1;
                        r_left = rs.get(r_idx).map_or(Decimal::ZERO, |r| r.qty);
                    }
                } else if po_left > Decimal::ZERO {
                    let take = need.min(po_left);
                    po_left -= take;
                    need -= take;
                    if let Some(last) = planned.last_mut() {
                        last.pegs.extend_from_slice(&reqs[k].pegs);
                    }
                } else {
                    // A shortage: one new lot covers it and the rest of the day's requirements.
                    let mut net = need;
                    for later in reqs[k + 1..].iter().take_while(|r| r.date == reqs[k].date) {
                        net = net.checked_add(later.qty).ok_or_else(|| overflow(item))?;
                    }
                    let mut good = lot_size(item.lot_size_rule, item.lot_size_qty, net)
                        .ok_or_else(|| overflow(item))?;
                    if item.lot_size_rule == LotSizeRule::Fixed {
                        lots_today = if planned
                            .last()
                            .is_some_and(|po| po.item == i && po.due == reqs[k].date)
                        {
                            lots_today + 1
                        } else {
                            1
                        };
                        if lots_today >= MAX_FIXED_LOTS_PER_DAY {
                            // The last lot of the day takes all the lots still needed.
                            good = lot_size(LotSizeRule::Multiple, item.lot_size_qty, net)
                                .ok_or_else(|| overflow(item))?;
                        }
                    }
                    let qty = good
                        .checked_mul(item_scrap)
                        .map(round_up)
                        .ok_or_else(|| overflow(item))?;
                    let due = reqs[k].date;
                    let start = cal
                        .sub_working_days(due, lead_time[i])
                        .ok_or_else(|| MrpError::OffCalendar(item.item.clone()))?;
                    planned.push(Planned {
                        item: i,
                        qty,
                        start,
                        due,
                        pegs: Vec::new(),
                    });
                    po_left = good;
                }
            }
        }

        for receipt in rs.iter() {
            let (kind, date) = match receipt.needed {
                None => (MessageKind::Cancel, receipt.source.due),
                Some(needed) if needed < receipt.due => (MessageKind::Expedite, needed),
                Some(needed) if needed > receipt.due => (MessageKind::PushOut, needed),
                Some(_) => continue,
            };
            messages.push(ActionMessage {
                kind,
                reference: receipt.source.reference.clone(),
                item: item.item.clone(),
                date,
            });
        }

        // Explode the item's planned orders into its components' gross requirements.
        for (po_index, po) in planned.iter_mut().enumerate().skip(first_planned) {
            po.pegs.sort_unstable();
            po.pegs.dedup();
            let lines = effective_lines(&revisions[i], po.start);
            if item.kind != ItemKind::Make || lines.is_empty() {
                continue;
            }
            let pegs: Rc<[u32]> = match input.pegging {
                Pegging::Full => Rc::from(po.pegs.as_slice()),
                Pegging::Single => {
                    let id = u32::try_from(n_refs + po_index).map_err(|_| {
                        MrpError::Invalid("more than 4 billion planned orders".into())
                    })?;
                    Rc::from([id])
                }
            };
            for &(c, factor) in lines {
                let qty = po
                    .qty
                    .checked_mul(factor)
                    .map(round_up)
                    .ok_or_else(|| overflow(item))?;
                gross[c].push(Req {
                    date: effective(po.start),
                    qty,
                    pegs: pegs.clone(),
                });
            }
        }
    }

    let planned_orders = planned
        .into_iter()
        .enumerate()
        .map(|(index, po)| PlannedOrder {
            reference: planned_reference(index),
            item: items[po.item].item.clone(),
            kind: items[po.item].kind,
            qty: po.qty,
            start: po.start,
            due: po.due,
            pegged_to: po
                .pegs
                .iter()
                .map(|&id| match refs.get(id as usize) {
                    Some(reference) => reference.clone(),
                    None => planned_reference(id as usize - n_refs),
                })
                .collect(),
            supplier: supplier_of[po.item].map(str::to_owned),
            late: lateness(po.start, as_of).is_some(),
            days_late: lateness(po.start, as_of),
        })
        .collect();
    Ok(MrpPlan {
        run: None,
        as_of: None,
        planned_orders,
        messages,
    })
}

#[cfg(test)]
mod tests;

//! [`WorkOrderStore`] on SQLite, and the work-order part of ingest ([`BatchProgress`]).
//!
//! Ingest loads each order a batch names once, applies the batch's facts to it in memory
//! ([`OrderProgress`]) and writes it back once, so a batch of 5000 production reports for a
//! handful of orders costs a handful of row updates, not 5000.

use super::db::{Connection, OptionalExtension, Transaction, TransactionBehavior, Value, params};
use super::oa::gate::Gate;
use super::{SqlStore, StoreError, parse_ts, to_i64, to_u64, ts};
use crate::erp::import::{Line as CsvLine, RowError};
use crate::erp::routing_import::RoutingRow;
use crate::erp::work_order::{
    Action, DispatchOperation, DispatchOrder, IssuedComponent, OpProgress, OrderFact,
    OrderProgress, State, Status, plan_contents, required_qty, transition,
};
use crate::store::inventory::InventoryFacts;
use crate::store::work_orders::{
    Changed, ComponentView, Line, LotExpiry, LotHold, MAX_LISTED_WARNINGS, NewWorkOrder,
    OperationView, OrderPlan, OrderWarning, Routing, RoutingOperation, UnmatchedOrder, WoRejection,
    WoResult, WorkCenter, WorkOrderChange, WorkOrderStore, WorkOrderSummary, WorkOrderView,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use protocol::{EdgeId, Plan, PlanContent, PlanLot};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mes_lines (
    line        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    edge_id     TEXT
);
CREATE TABLE IF NOT EXISTS mes_work_centers (
    work_center TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    line        TEXT NOT NULL,
    station     TEXT
);
CREATE TABLE IF NOT EXISTS mes_routing_ops (
    item        TEXT NOT NULL,
    operation   INTEGER NOT NULL,
    description TEXT NOT NULL,
    work_center TEXT NOT NULL,
    PRIMARY KEY (item, operation)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wo_orders (
    work_order TEXT PRIMARY KEY,
    item       TEXT NOT NULL,
    qty        TEXT NOT NULL,
    uom        TEXT NOT NULL,
    due        TEXT NOT NULL,
    priority   INTEGER NOT NULL,
    line       TEXT NOT NULL,
    state      TEXT NOT NULL,
    held_from  TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS wo_orders_state ON wo_orders (state);
CREATE TABLE IF NOT EXISTS wo_operations (
    work_order  TEXT NOT NULL,
    operation   INTEGER NOT NULL,
    description TEXT NOT NULL,
    work_center TEXT NOT NULL,
    started     INTEGER NOT NULL DEFAULT 0,
    good        INTEGER NOT NULL DEFAULT 0,
    scrap       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (work_order, operation)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wo_components (
    work_order TEXT NOT NULL,
    item       TEXT NOT NULL,
    position   INTEGER NOT NULL,
    qty_per    TEXT NOT NULL,
    scrap_pct  TEXT NOT NULL,
    required   TEXT NOT NULL,
    uom        TEXT NOT NULL,
    issued     TEXT NOT NULL,
    unplanned  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (work_order, item)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wo_plans (
    work_order TEXT NOT NULL,
    edge_id    TEXT NOT NULL,
    version    INTEGER NOT NULL,
    PRIMARY KEY (work_order, edge_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wo_warnings (
    id         INTEGER PRIMARY KEY,
    work_order TEXT NOT NULL,
    edge_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    at         TEXT NOT NULL,
    message    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS wo_warnings_order ON wo_warnings (work_order, id);
CREATE TABLE IF NOT EXISTS wo_unmatched (
    work_order   TEXT PRIMARY KEY,
    events       INTEGER NOT NULL,
    last_edge_id TEXT NOT NULL,
    last_at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lot_holds (
    lot     TEXT PRIMARY KEY,
    item    TEXT NOT NULL,
    reason  TEXT NOT NULL,
    held_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lot_expiry (
    lot     TEXT PRIMARY KEY,
    item    TEXT NOT NULL,
    expires TEXT NOT NULL,
    set_at  TEXT NOT NULL
);
";

/// Columns added to tables older versions made: a work center's working hours a day (for
/// capable-to-promise; none until set), and when a work order was completed (the time of the
/// edge's `work_order_completed`), for on-time delivery. Orders completed before the column
/// existed take the time of their last change.
pub(super) fn add_columns(conn: &Connection) -> Result<(), StoreError> {
    if !super::stock::has_column(conn, "mes_work_centers", "hours_per_day")? {
        conn.execute_batch("ALTER TABLE mes_work_centers ADD COLUMN hours_per_day TEXT")?;
    }
    if !super::stock::has_column(conn, "wo_orders", "completed_at")? {
        conn.execute_batch(
            "ALTER TABLE wo_orders ADD COLUMN completed_at TEXT;
             UPDATE wo_orders SET completed_at = updated_at
                 WHERE state IN ('completed', 'closed') AND completed_at IS NULL;",
        )?;
    }
    Ok(())
}

/// Orders with their output (good and scrap at the last operation), by id: `filter` is the
/// `WHERE` clause over `wo_orders o`.
fn summaries(
    conn: &Connection,
    filter: &str,
    args: &[&dyn super::db::ToSql],
) -> Result<Vec<WorkOrderSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT o.work_order, o.item, o.qty, o.due, o.priority, o.line, o.state,
                COALESCE(l.good, 0), COALESCE(l.scrap, 0), o.completed_at
         FROM wo_orders o
         LEFT JOIN wo_operations l ON l.work_order = o.work_order AND l.operation =
             (SELECT MAX(operation) FROM wo_operations m WHERE m.work_order = o.work_order)
         {filter}
         ORDER BY o.work_order"
    ))?;
    let rows = stmt.query_map(args, |r| {
        Ok((
            (
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i32>(4)?,
            ),
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, i64>(8)?,
            r.get::<_, Option<String>>(9)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let ((work_order, item, qty, due, priority), line, st, good, scrap, completed) = row?;
        out.push(WorkOrderSummary {
            work_order,
            item,
            qty: decimal(&qty)?,
            due: date(&due)?,
            priority,
            line,
            state: state(&st)?,
            good: to_u64(good),
            scrap: to_u64(scrap),
            completed_at: completed.as_deref().map(parse_ts).transpose()?,
        });
    }
    Ok(out)
}

/// An ideal cycle time in seconds as the store keeps it (whole milliseconds; the API checked
/// it is within [`crate::erp::routing_import::ideal_cycle_ms`]'s bounds).
fn ideal_ms(seconds: Option<Decimal>) -> Option<i64> {
    seconds.and_then(|s| crate::erp::routing_import::ideal_cycle_ms(s).ok())
}

fn decimal(text: &str) -> Result<Decimal, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("quantity {text:?}: {e}")))
}

fn date(text: &str) -> Result<NaiveDate, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("date {text:?}: {e}")))
}

fn state(text: &str) -> Result<State, StoreError> {
    State::parse(text).ok_or_else(|| StoreError::Corrupt(format!("work order state {text:?}")))
}

fn status(state_text: &str, held_from: Option<&str>) -> Result<Status, StoreError> {
    let st = state(state_text)?;
    let held = held_from.map(state).transpose()?;
    Status::from_parts(st, held).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "work order state {state_text:?} held from {held_from:?}"
        ))
    })
}

fn op_number(n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("operation number {n}")))
}

/// One order as ingest holds it during a batch.
struct Loaded {
    progress: OrderProgress,
    /// Its state before the batch: an order that leaves the dispatched states (completed)
    /// leaves its lines' plans.
    before: State,
    /// The time (the edge's) of the event that completed it in this batch.
    completed_at: Option<String>,
}

/// The work-order side of one ingest batch: facts are applied in memory and written once.
#[derive(Default)]
pub(super) struct BatchProgress {
    /// `None`: central has no such order.
    orders: HashMap<String, Option<Loaded>>,
    /// Unknown order id → (events, last event time).
    unmatched: HashMap<String, (u64, String)>,
    /// `(work order, message)` → (seq and time of its first event, how many events
    /// raised it): an edge that keeps reporting on a cancelled order gets one warning per
    /// batch, not one per event.
    warnings: HashMap<(String, String), (i64, String, u64)>,
    /// Items of which the batch received or produced a lot not seen before: a new lot with
    /// an expiry date must reach the lines that use the item before it expires, not at their
    /// next unrelated change.
    new_lot_items: BTreeSet<String>,
}

impl BatchProgress {
    /// Notes the lots an event brings into stock for the first time; call it before the
    /// event's movements are booked.
    pub(super) fn note_stock(
        &mut self,
        tx: &Transaction<'_>,
        facts: &InventoryFacts,
    ) -> Result<(), StoreError> {
        for m in &facts.movements {
            if !matches!(m.reason, "received" | "produced") || self.new_lot_items.contains(&m.item)
            {
                continue;
            }
            let seen = tx
                .prepare_cached(
                    "SELECT 1 FROM inv_ledger WHERE item = ?1 AND lot = ?2
                         AND reason IN ('received', 'produced') LIMIT 1",
                )?
                .query_row(params![m.item, m.lot], |_| Ok(()))
                .optional()?
                .is_some();
            if !seen {
                self.new_lot_items.insert(m.item.clone());
            }
        }
        Ok(())
    }

    /// A warning about an order that central knows (ignored for an unknown one), one per
    /// message and batch like the others.
    pub(super) fn warn(
        &mut self,
        tx: &Transaction<'_>,
        id: &str,
        message: String,
        seq: i64,
        at: &str,
    ) -> Result<(), StoreError> {
        if !self.orders.contains_key(id) {
            let loaded = load_progress(tx, id)?.map(|progress| Loaded {
                before: progress.status.state(),
                progress,
                completed_at: None,
            });
            self.orders.insert(id.to_owned(), loaded);
        }
        if let Some(Some(_)) = self.orders.get(id) {
            self.warnings
                .entry((id.to_owned(), message))
                .or_insert_with(|| (seq, at.to_owned(), 0))
                .2 += 1;
        }
        Ok(())
    }

    pub(super) fn apply(
        &mut self,
        tx: &Transaction<'_>,
        fact: &OrderFact,
        seq: i64,
        at: &str,
    ) -> Result<(), StoreError> {
        let id = fact.work_order();
        if !self.orders.contains_key(id) {
            let loaded = load_progress(tx, id)?.map(|progress| Loaded {
                before: progress.status.state(),
                progress,
                completed_at: None,
            });
            self.orders.insert(id.to_owned(), loaded);
        }
        match self.orders.get_mut(id) {
            Some(Some(loaded)) => {
                let was = loaded.progress.status.state();
                loaded.progress.apply(fact);
                if was != State::Completed
                    && loaded.progress.status.state() == State::Completed
                    && loaded.completed_at.is_none()
                {
                    loaded.completed_at = Some(at.to_owned());
                }
                for message in loaded.progress.warnings.drain(..) {
                    self.warnings
                        .entry((id.to_owned(), message))
                        .or_insert_with(|| (seq, at.to_owned(), 0))
                        .2 += 1;
                }
            }
            _ => {
                let entry = self
                    .unmatched
                    .entry(id.to_owned())
                    .or_insert((0, String::new()));
                entry.0 += 1;
                at.clone_into(&mut entry.1);
            }
        }
        Ok(())
    }

    /// Whether the batch moves an order it names to another state (started, held, completed):
    /// what head office's live page shows of it.
    pub(super) fn changes_states(&self) -> bool {
        self.orders
            .values()
            .flatten()
            .any(|l| l.before != l.progress.status.state())
    }

    /// Writes what the batch changed. `received`: central's time, the orders' `updated_at`.
    /// An order the batch completed leaves its lines' plans: the new plan versions, published
    /// in `tx`, are returned for the caller to wake the edges' polls after the commit.
    pub(super) fn flush(
        self,
        tx: &Transaction<'_>,
        edge_id: &str,
        received: &str,
    ) -> Result<Vec<Plan>, StoreError> {
        let mut left_plans = Vec::new();
        for (id, loaded) in &self.orders {
            let Some(Loaded {
                progress,
                before,
                completed_at,
            }) = loaded
            else {
                continue;
            };
            if before.is_dispatched() && !progress.status.state().is_dispatched() {
                left_plans.push(id.as_str());
            }
            if !progress.dirty {
                continue;
            }
            tx.prepare_cached(
                "UPDATE wo_orders SET state = ?2, held_from = ?3, updated_at = ?4,
                     completed_at = COALESCE(CAST(?5 AS TEXT), completed_at)
                 WHERE work_order = ?1",
            )?
            .execute(params![
                id,
                progress.status.state().as_str(),
                progress.status.held_from().map(State::as_str),
                received,
                completed_at.as_deref()
            ])?;
            let mut op = tx.prepare_cached(
                "UPDATE wo_operations SET started = ?3, good = ?4, scrap = ?5
                 WHERE work_order = ?1 AND operation = ?2",
            )?;
            for o in &progress.operations {
                op.execute(params![
                    id,
                    o.operation,
                    o.started,
                    to_i64(o.good)?,
                    to_i64(o.scrap)?
                ])?;
            }
            let mut component = tx.prepare_cached(
                "INSERT INTO wo_components (work_order, item, position, qty_per, scrap_pct,
                     required, uom, issued, unplanned)
                 VALUES (?1, ?2, ?3, '0', '0', '0', ?4, ?5, 1)
                 ON CONFLICT (work_order, item) DO UPDATE SET issued = excluded.issued",
            )?;
            for (i, c) in progress.components.iter().enumerate() {
                component.execute(params![id, c.item, i as i64, c.uom, c.issued.to_string()])?;
            }
        }
        let mut warn = tx.prepare_cached(
            "INSERT INTO wo_warnings (work_order, edge_id, seq, at, message)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut warnings: Vec<_> = self.warnings.into_iter().collect();
        warnings.sort_by_key(|(_, (seq, _, _))| *seq);
        for ((id, message), (seq, at, n)) in warnings {
            let message = if n > 1 {
                format!("{message} (and {} more times in this batch)", n - 1)
            } else {
                message
            };
            warn.execute(params![id, edge_id, seq, at, message])?;
        }
        let mut unmatched = tx.prepare_cached(
            "INSERT INTO wo_unmatched AS u (work_order, events, last_edge_id, last_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (work_order) DO UPDATE SET events = u.events + excluded.events,
                 last_edge_id = excluded.last_edge_id, last_at = excluded.last_at",
        )?;
        for (id, (n, at)) in &self.unmatched {
            unmatched.execute(params![id, to_i64(*n)?, edge_id, at])?;
        }
        // Only new lots that get an expiry date change what a plan carries.
        let mut expiring = Vec::new();
        for item in &self.new_lot_items {
            // A new lot with an expiry, or a new lot in a plant whose lines refuse lots
            // without stock: the lines using the item must hear of it now.
            if exists(
                tx,
                "SELECT 1 FROM erp_item_details WHERE item = ?1 AND shelf_life_days IS NOT NULL
                 UNION ALL SELECT 1 FROM lot_expiry WHERE item = ?1
                 UNION ALL SELECT 1 FROM plants WHERE negative_stock = 'refuse'",
                item,
            )? {
                expiring.push(item.as_str());
            }
        }
        if left_plans.is_empty() && expiring.is_empty() {
            return Ok(Vec::new());
        }
        let lines = line_edges(tx)?;
        let mut edges = BTreeSet::new();
        for id in left_plans {
            if let Some(order) = load_dispatch(tx, id)? {
                edges.extend(order.edges(&lines));
            }
        }
        publish_concerned(tx, &lines, &edges, &expiring)
    }
}

fn load_progress(conn: &Connection, id: &str) -> Result<Option<OrderProgress>, StoreError> {
    let row: Option<(String, Option<String>, String, String)> = conn
        .prepare_cached("SELECT state, held_from, qty, line FROM wo_orders WHERE work_order = ?1")?
        .query_row(params![id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((st, held, order_qty, line)) = row else {
        return Ok(None);
    };
    let limits = crate::erp::work_order::OrderLimits {
        qty: decimal(&order_qty)?,
        tolerance_pct: super::stock::plant_of_line(conn, &line)?.over_tolerance_pct,
    };
    let status = status(&st, held.as_deref())?;
    let mut operations = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT operation, started, good, scrap FROM wo_operations WHERE work_order = ?1
             ORDER BY operation",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (operation, started, good, scrap) = row?;
            operations.push(OpProgress {
                operation: op_number(operation)?,
                good: to_u64(good),
                scrap: to_u64(scrap),
                started,
            });
        }
    }
    let mut components = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT item, uom, issued, unplanned, required FROM wo_components
             WHERE work_order = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        for row in rows {
            let (item, uom, issued, unplanned, required) = row?;
            components.push(IssuedComponent {
                item,
                uom,
                issued: decimal(&issued)?,
                required: decimal(&required)?,
                unplanned,
            });
        }
    }
    Ok(Some(
        OrderProgress::new(status, operations, components).with_limits(limits),
    ))
}

fn read_lines(conn: &Connection) -> Result<Vec<Line>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT line, description, edge_id, plant FROM mes_lines ORDER BY line")?;
    let rows = stmt.query_map([], |r| {
        Ok(Line {
            line: r.get(0)?,
            description: r.get(1)?,
            edge_id: r.get(2)?,
            plant: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Line → edge, for the lines that have one.
fn line_edges(conn: &Connection) -> Result<HashMap<String, String>, StoreError> {
    Ok(read_lines(conn)?
        .into_iter()
        .filter_map(|l| l.edge_id.map(|e| (l.line, e)))
        .collect())
}

fn exists(conn: &Connection, sql: &str, key: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params![key], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(super) fn item_uom(conn: &Connection, item: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT uom FROM erp_items WHERE item = ?1")?
        .query_row(params![item], |r| r.get(0))
        .optional()?)
}

fn read_routing(conn: &Connection, item: &str) -> Result<Vec<RoutingOperation>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT operation, description, work_center, ideal_cycle_ms FROM mes_routing_ops
         WHERE item = ?1 ORDER BY operation",
    )?;
    let rows = stmt.query_map(params![item], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
        ))
    })?;
    let mut ops = Vec::new();
    for row in rows {
        let (operation, description, work_center, ideal_ms) = row?;
        ops.push(RoutingOperation {
            operation: op_number(operation)?,
            description,
            work_center,
            ideal_cycle_s: ideal_ms.map(|ms| Decimal::new(ms, 3).normalize()),
        });
    }
    Ok(ops)
}

/// The order as the plans need it (whatever its state).
fn load_dispatch(conn: &Connection, id: &str) -> Result<Option<DispatchOrder>, StoreError> {
    let row: Option<(String, String, String, String, i32, String, String)> = conn
        .prepare_cached(
            "SELECT item, qty, uom, due, priority, line, state FROM wo_orders WHERE work_order = ?1",
        )?
        .query_row(params![id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .optional()?;
    let Some((item, qty, uom, due, priority, line, st)) = row else {
        return Ok(None);
    };
    let mut operations = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT o.operation, o.description, w.line, w.station FROM wo_operations o
             LEFT JOIN mes_work_centers w ON w.work_center = o.work_center
             WHERE o.work_order = ?1 ORDER BY o.operation",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?;
        for row in rows {
            let (operation, description, line, station) = row?;
            operations.push(DispatchOperation {
                operation: op_number(operation)?,
                description,
                line,
                station,
            });
        }
    }
    let mut components = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT item, required, uom FROM wo_components WHERE work_order = ?1 AND unplanned = 0
             ORDER BY position",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (item, required, uom) = row?;
            components.push((item, decimal(&required)?, uom));
        }
    }
    Ok(Some(DispatchOrder {
        work_order: id.to_owned(),
        item,
        qty: decimal(&qty)?,
        uom,
        due: date(&due)?,
        priority,
        line,
        on_hold: state(&st)? == State::OnHold,
        made_for: super::sales::made_for(conn, id)?,
        operations,
        components,
    }))
}

/// The plan content of each of `edges` as the store stands in `tx`.
fn contents(
    tx: &Transaction<'_>,
    edges: &BTreeSet<String>,
    line_edges: &HashMap<String, String>,
) -> Result<BTreeMap<EdgeId, PlanContent>, StoreError> {
    if edges.is_empty() {
        return Ok(BTreeMap::new());
    }
    let ids: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT work_order FROM wo_orders WHERE state IN ('released', 'in_progress', 'on_hold')",
        )?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let mut orders = Vec::new();
    for id in ids {
        if let Some(order) = load_dispatch(tx, &id)? {
            orders.push(order);
        }
    }
    // Only components are scanned against a plan, so only their GTINs and lots matter.
    let components: BTreeSet<&str> = orders
        .iter()
        .flat_map(|o| &o.components)
        .map(|(item, _, _)| item.as_str())
        .collect();
    let mut gtins = HashMap::new();
    let mut lots = Vec::new();
    {
        let mut gtin = tx.prepare_cached("SELECT gtin FROM erp_item_gtins WHERE item = ?1")?;
        for item in &components {
            if let Some(g) = gtin
                .query_row(params![item], |r| r.get::<_, String>(0))
                .optional()?
            {
                gtins.insert((*item).to_owned(), g);
            }
            lots.extend(item_lots(tx, item)?);
        }
    }
    Ok(plan_contents(edges, &orders, line_edges, &lots, &gtins))
}

/// The lots of `item` a line must know about: every held lot (a hold may come before central
/// sees the receipt, so it needs no stock), and every lot with stock (on-hand above 0 in the
/// ledger, over all locations) that has an expiry date: the one set with
/// `POST /api/v1/lots/{lot}/expiry`, or else its first receipt date (the earliest
/// `material_received` or `lot_produced` in the ledger that was not reversed) plus the item's
/// shelf life. The location is given when all of the lot's stock is at one.
pub(super) fn item_lots(tx: &Transaction<'_>, item: &str) -> Result<Vec<PlanLot>, StoreError> {
    #[derive(Default)]
    struct Lot {
        at: BTreeMap<String, Decimal>,
        /// The ledger sums beyond what a quantity holds (entries from before central bounded
        /// events): the lot counts as in stock, at no one location.
        overflow: bool,
        first_receipt: Option<NaiveDate>,
        hold: Option<String>,
        expires: Option<NaiveDate>,
    }
    let mut by_lot: BTreeMap<String, Lot> = BTreeMap::new();
    {
        let mut stmt = tx.prepare_cached("SELECT lot, reason FROM lot_holds WHERE item = ?1")?;
        let rows = stmt.query_map(params![item], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (lot, reason) = row?;
            by_lot.entry(lot).or_default().hold = Some(reason);
        }
    }
    let mut overridden = Vec::new();
    {
        let mut stmt = tx.prepare_cached("SELECT lot, expires FROM lot_expiry WHERE item = ?1")?;
        let rows = stmt.query_map(params![item], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (lot, expires) = row?;
            by_lot.entry(lot.clone()).or_default().expires = Some(date(&expires)?);
            overridden.push(lot);
        }
    }
    let shelf_life: Option<u32> = tx
        .prepare_cached("SELECT shelf_life_days FROM erp_item_details WHERE item = ?1")?
        .query_row(params![item], |r| r.get(0))
        .optional()?
        .flatten();
    // The ledger is read only where an expiry can come from: every lot of an item with a shelf
    // life, else only the lots with a date set (an item with neither costs no ledger scan).
    // An entry and its reversal cancel exactly; both are left out, as on-hand does.
    const COLUMNS: &str = "SELECT l.lot, l.location, l.qty_delta, l.at,
            l.reason IN ('received', 'produced')
        FROM inv_ledger l
        WHERE l.reverses IS NULL
            AND NOT EXISTS (SELECT 1 FROM inv_ledger r WHERE r.reverses = l.entry_id)";
    let mut book = |row: Result<(String, String, String, String, bool), super::db::DbError>| {
        let (lot, location, qty, at, receipt) = row?;
        let entry = by_lot.entry(lot).or_default();
        let at_location = entry.at.entry(location).or_default();
        match at_location.checked_add(decimal(&qty)?) {
            Some(sum) => *at_location = sum,
            None => entry.overflow = true,
        }
        if receipt {
            let day = parse_ts(&at)?.date_naive();
            entry.first_receipt = Some(entry.first_receipt.map_or(day, |d| d.min(day)));
        }
        Ok::<_, StoreError>(())
    };
    let columns = |r: &super::db::Row<'_>| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, bool>(4)?,
        ))
    };
    if shelf_life.is_some() {
        let mut stmt = tx.prepare_cached(&format!("{COLUMNS} AND l.item = ?1"))?;
        for row in stmt.query_map(params![item], columns)? {
            book(row)?;
        }
    } else {
        let mut stmt = tx.prepare_cached(&format!("{COLUMNS} AND l.item = ?1 AND l.lot = ?2"))?;
        for lot in &overridden {
            for row in stmt.query_map(params![item, lot], columns)? {
                book(row)?;
            }
        }
    }
    let mut out = Vec::new();
    for (lot, l) in by_lot {
        let expires = l.expires.or_else(|| {
            let days = shelf_life?;
            l.first_receipt?
                .checked_add_days(chrono::Days::new(days.into()))
        });
        let stocked: Vec<&String> =
            l.at.iter()
                .filter(|(_, q)| **q > Decimal::ZERO)
                .map(|(location, _)| location)
                .collect();
        let on_hand =
            l.at.values()
                .try_fold(Decimal::ZERO, |sum, q| sum.checked_add(*q));
        let overflow = l.overflow || on_hand.is_none();
        let in_stock = overflow || on_hand.is_some_and(|q| q > Decimal::ZERO);
        if l.hold.is_none() && !(in_stock && expires.is_some()) {
            continue;
        }
        out.push(PlanLot {
            lot: lot.as_str().into(),
            item: item.into(),
            expires,
            on_hold: l.hold.is_some(),
            hold_reason: l.hold,
            location: match stocked.as_slice() {
                [location] if !overflow => Some(location.as_str().into()),
                _ => None,
            },
            on_hand: None,
        });
    }
    Ok(out)
}

/// `action` on the work order `id`, inside the caller's transaction.
fn act(
    tx: &Transaction<'_>,
    id: &str,
    action: Action,
    by: &str,
    now: DateTime<Utc>,
) -> WoResult<Changed<WorkOrderView>> {
    let row: Option<(String, Option<String>)> = tx
        .prepare_cached("SELECT state, held_from FROM wo_orders WHERE work_order = ?1")?
        .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((st, held)) = row else {
        return Ok(Err(no_order(id)));
    };
    let before = status(&st, held.as_deref())?;
    let after = match transition(before, action) {
        Ok(after) => after,
        Err(refused) => return Ok(Err(WoRejection::Refused(refused))),
    };
    let lines = line_edges(tx)?;
    let order = load_dispatch(tx, id)?
        .ok_or_else(|| StoreError::Corrupt(format!("work order {id:?} vanished")))?;
    let edges = order.edges(&lines);
    if action == Action::Release && edges.is_empty() {
        return Ok(Err(WoRejection::Invalid(format!(
            "work order {id:?} cannot be released: line {:?} has no edge; expected one assigned with put /api/v1/lines/{}",
            order.line, order.line
        ))));
    }
    if action == Action::Release
        && let Err(r) = release_gate(tx, id, &order, by, now)?
    {
        return Ok(Err(r));
    }
    tx.prepare_cached(
        "UPDATE wo_orders SET state = ?2, held_from = ?3, updated_at = ?4
         WHERE work_order = ?1",
    )?
    .execute(params![
        id,
        after.state().as_str(),
        after.held_from().map(State::as_str),
        ts(now)
    ])?;
    let plans = if before.state().is_dispatched() || after.state().is_dispatched() {
        publish(tx, &edges, &lines)?
    } else {
        Vec::new()
    };
    super::changes::notify(tx, &crate::store::StoreChange::WorkOrders)?;
    let view = view_of(tx, id)?;
    Ok(Ok(Changed { value: view, plans }))
}

/// A release above the `work_order_release` workflow's thresholds waits for its approval;
/// `Ok` when it may go on (no workflow, below them, or approved for at least this quantity).
fn release_gate(
    tx: &Transaction<'_>,
    id: &str,
    order: &crate::erp::work_order::DispatchOrder,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), WoRejection>, StoreError> {
    let plant: String = tx
        .prepare_cached("SELECT plant FROM mes_lines WHERE line = ?1")?
        .query_row(params![order.line], |r| r.get(0))
        .optional()?
        .unwrap_or_default();
    let qty = order.qty;
    let serde_json::Value::Object(values) = serde_json::json!({
        "work_order": id,
        "item": order.item,
        "qty": qty.normalize().to_string(),
        "plant": plant,
    }) else {
        return Err(StoreError::Corrupt("the approval's values".into()));
    };
    let covers = |r: &crate::store::oa::OaRequest| {
        r.request
            .values
            .get("qty")
            .and_then(serde_json::Value::as_str)
            .and_then(|v| v.parse::<Decimal>().ok())
            .is_some_and(|approved| approved >= qty)
    };
    Ok(
        match super::oa::gate::gate(tx, "work_order_release", id, values, by, now, covers)? {
            Gate::Pass(_) | Gate::NoWorkflow => Ok(()),
            Gate::Waiting { number, .. } => Err(WoRejection::AwaitingApproval(format!(
                "releasing {qty} of work order {id} needs approval: request {number} waits on its approvers, and the order is released when it is approved"
            ))),
            Gate::Refused(why) => Err(WoRejection::Invalid(format!(
                "releasing work order {id} needs approval, which cannot be asked: {why}"
            ))),
        },
    )
}

/// An approved release carried out: the work order released and its plan published.
pub(super) fn release_approved(
    tx: &Transaction<'_>,
    id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Result<Vec<Plan>, String>, StoreError> {
    Ok(match act(tx, id, Action::Release, by, now)? {
        Ok(changed) => Ok(changed.plans),
        Err(WoRejection::NotFound(m) | WoRejection::Invalid(m) | WoRejection::Conflict(m))
        | Err(WoRejection::AwaitingApproval(m)) => Err(m),
        Err(WoRejection::Refused(r)) => Err(r.to_string()),
    })
}

/// Publishes, inside `tx`, the next plan version of each of `edges` and records which
/// version carried each order.
fn publish(
    tx: &Transaction<'_>,
    edges: &BTreeSet<String>,
    line_edges: &HashMap<String, String>,
) -> Result<Vec<Plan>, StoreError> {
    let all = contents(tx, edges, line_edges)?;
    publish_contents(tx, all)
}

/// Publishes, inside `tx`, a new plan version for the edges whose orders use one of `items` as
/// a component: after a change of a lot (a hold, a release, an expiry date), only those
/// plans change.
fn publish_for_items(
    tx: &Transaction<'_>,
    items: &[&str],
    line_edges: &HashMap<String, String>,
) -> Result<Vec<Plan>, StoreError> {
    let mut plans = publish_concerned(tx, line_edges, &BTreeSet::new(), items)?;
    // The docks refuse held and expired lots of what they ship too.
    for plan in super::deliveries::republish_shipping(tx)? {
        plans.retain(|p| p.edge_id != plan.edge_id);
        plans.push(plan);
    }
    Ok(plans)
}

/// Publishes, inside `tx`, a new plan version for each of `edges` and for every other edge
/// whose orders use one of `items` as a component, one version per edge.
fn publish_concerned(
    tx: &Transaction<'_>,
    line_edges: &HashMap<String, String>,
    edges: &BTreeSet<String>,
    items: &[&str],
) -> Result<Vec<Plan>, StoreError> {
    let candidates = if items.is_empty() {
        edges.clone()
    } else {
        all_edges(line_edges)
    };
    let all = contents(tx, &candidates, line_edges)?;
    let concerned = all
        .into_iter()
        .filter(|(edge, content)| {
            edges.contains(edge.as_str())
                || content
                    .work_orders
                    .iter()
                    .flat_map(|w| &w.operations)
                    .flat_map(|op| &op.allowed_components)
                    .any(|c| items.contains(&c.as_str()))
        })
        .collect();
    publish_contents(tx, concerned)
}

fn publish_contents(
    tx: &Transaction<'_>,
    contents: BTreeMap<EdgeId, PlanContent>,
) -> Result<Vec<Plan>, StoreError> {
    let mut plans = Vec::new();
    for (edge, content) in contents {
        let carried: Vec<String> = content
            .work_orders
            .iter()
            .map(|w| w.work_order.0.clone())
            .collect();
        let plan = super::publish_plan_in(tx, &edge, content)?;
        let mut record = tx.prepare_cached(
            "INSERT INTO wo_plans (work_order, edge_id, version) VALUES (?1, ?2, ?3)
             ON CONFLICT (work_order, edge_id) DO UPDATE SET version = excluded.version",
        )?;
        for id in carried {
            record.execute(params![id, edge.as_str(), to_i64(plan.version.0)?])?;
        }
        plans.push(plan);
    }
    Ok(plans)
}

fn read_lot_holds(conn: &Connection) -> Result<Vec<LotHold>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT lot, item, reason, held_at FROM lot_holds ORDER BY lot")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut holds = Vec::new();
    for row in rows {
        let (lot, item, reason, held_at) = row?;
        holds.push(LotHold {
            lot,
            item,
            reason,
            held_at: parse_ts(&held_at)?,
        });
    }
    Ok(holds)
}

fn load_view(conn: &Connection, id: &str) -> Result<Option<WorkOrderView>, StoreError> {
    type Head = (
        String,
        String,
        String,
        String,
        i32,
        String,
        String,
        Option<String>,
        String,
        String,
    );
    let head: Option<Head> = conn
        .prepare_cached(
            "SELECT item, qty, uom, due, priority, line, state, held_from, created_at, updated_at
             FROM wo_orders WHERE work_order = ?1",
        )?
        .query_row(params![id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })
        .optional()?;
    let Some((item, qty, uom, due, priority, line, st, held, created, updated)) = head else {
        return Ok(None);
    };
    let status = status(&st, held.as_deref())?;
    let mut operations = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT o.operation, o.description, o.work_center, w.station, o.started, o.good,
                    o.scrap
             FROM wo_operations o LEFT JOIN mes_work_centers w ON w.work_center = o.work_center
             WHERE o.work_order = ?1 ORDER BY o.operation",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        for row in rows {
            let (operation, description, work_center, station, started, good, scrap) = row?;
            operations.push(OperationView {
                operation: op_number(operation)?,
                description,
                work_center,
                station,
                started,
                good: to_u64(good),
                scrap: to_u64(scrap),
            });
        }
    }
    let output = operations.last().map_or(Decimal::ZERO, |o| {
        Decimal::from(o.good) + Decimal::from(o.scrap)
    });
    let mut components = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT item, uom, qty_per, scrap_pct, required, issued, unplanned FROM wo_components
             WHERE work_order = ?1 ORDER BY position",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, bool>(6)?,
            ))
        })?;
        for row in rows {
            let (item, uom, qty_per, scrap_pct, required, issued, unplanned) = row?;
            let (qty_per, scrap_pct) = (decimal(&qty_per)?, decimal(&scrap_pct)?);
            let (required, issued) = (decimal(&required)?, decimal(&issued)?);
            // Checked: counts and quantities booked before central bounded events can be
            // anything; a figure that overflows is shown at the end of the range it left,
            // with a problem saying so, rather than failing the whole view.
            let standard = required_qty(qty_per, output, scrap_pct);
            let variance = issued.checked_sub(required);
            let usage_variance = standard.and_then(|s| issued.checked_sub(s));
            let problem = (standard.is_none() || variance.is_none() || usage_variance.is_none())
                .then(|| {
                    "a figure of this component overflows what a quantity holds (counts or issues booked before central bounded events); it is shown saturated".to_owned()
                });
            let standard = standard.unwrap_or(Decimal::MAX);
            components.push(ComponentView {
                item,
                uom,
                qty_per,
                scrap_pct,
                required,
                issued: issued.normalize(),
                variance: variance
                    .unwrap_or_else(|| issued.saturating_sub(required))
                    .normalize(),
                standard_for_output: standard,
                usage_variance: usage_variance
                    .unwrap_or_else(|| issued.saturating_sub(standard))
                    .normalize(),
                unplanned,
                problem,
            });
        }
    }
    let mut plans = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT p.edge_id, p.version, COALESCE(e.plan_version_applied, 0) FROM wo_plans p
             LEFT JOIN edges e ON e.edge_id = p.edge_id
             WHERE p.work_order = ?1 ORDER BY p.edge_id",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (edge_id, version, applied) = row?;
            let (version, edge_applied) = (to_u64(version), to_u64(applied));
            plans.push(OrderPlan {
                edge_id,
                version,
                edge_applied,
                running: edge_applied >= version,
            });
        }
    }
    let n_warnings: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM wo_warnings WHERE work_order = ?1")?
        .query_row(params![id], |r| r.get(0))?;
    let mut warnings = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT at, edge_id, seq, message FROM wo_warnings WHERE work_order = ?1
             ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![id, MAX_LISTED_WARNINGS as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        for row in rows {
            let (at, edge_id, seq, message) = row?;
            warnings.push(OrderWarning {
                at: parse_ts(&at)?,
                edge_id,
                seq: to_u64(seq),
                message,
            });
        }
    }
    Ok(Some(WorkOrderView {
        work_order: id.to_owned(),
        item,
        qty: decimal(&qty)?,
        uom,
        due: date(&due)?,
        priority,
        line,
        state: status.state(),
        held_from: status.held_from(),
        created_at: parse_ts(&created)?,
        updated_at: parse_ts(&updated)?,
        operations,
        components,
        plans,
        stations: super::stations::of_order(conn, id)?,
        warnings,
        n_warnings: to_u64(n_warnings),
    }))
}

fn view_of(tx: &Transaction<'_>, id: &str) -> Result<WorkOrderView, StoreError> {
    load_view(tx, id)?.ok_or_else(|| StoreError::Corrupt(format!("work order {id:?} vanished")))
}

fn no_order(id: &str) -> WoRejection {
    WoRejection::NotFound(format!(
        "no work order {id:?}; expected one created with post /api/v1/work-orders"
    ))
}

/// After a change of where `lines` run or of their stations: new plan versions for the
/// edges of those lines, before and after, if any order is dispatched.
fn republish(
    tx: &Transaction<'_>,
    lines: &[&str],
    before: &HashMap<String, String>,
    after: &HashMap<String, String>,
) -> Result<Vec<Plan>, StoreError> {
    let dispatched: i64 = tx.query_row(
        "SELECT COUNT(*) FROM wo_orders WHERE state IN ('released', 'in_progress', 'on_hold')",
        [],
        |r| r.get(0),
    )?;
    if dispatched == 0 {
        return Ok(Vec::new());
    }
    let edges: BTreeSet<String> = lines
        .iter()
        .flat_map(|l| [before.get(*l), after.get(*l)])
        .flatten()
        .cloned()
        .collect();
    publish(tx, &edges, after)
}

/// Every edge that runs a line.
/// The item of `lot`: `given`, or the one the stock ledger, the genealogy or the imported
/// inventory knows it by.
fn lot_item(
    tx: &Transaction<'_>,
    lot: &str,
    given: Option<String>,
) -> Result<Result<String, WoRejection>, StoreError> {
    if let Some(item) = given {
        return Ok(Ok(item));
    }
    let known: Option<String> = tx
        .prepare_cached(
            "SELECT item FROM inv_ledger WHERE lot = ?1
             UNION ALL SELECT item FROM gen_produced WHERE lot = ?1
             UNION ALL SELECT item FROM erp_inventory WHERE lot = ?1
             LIMIT 1",
        )?
        .query_row(params![lot], |r| r.get(0))
        .optional()?;
    Ok(known.ok_or_else(|| {
        WoRejection::Invalid(format!(
            "lot {lot:?} is not in the stock ledger; expected its item in the request ({{\"item\": ...}})"
        ))
    }))
}

fn all_edges(line_edges: &HashMap<String, String>) -> BTreeSet<String> {
    line_edges.values().cloned().collect()
}

fn generated_id(tx: &Transaction<'_>) -> Result<String, StoreError> {
    let n: i64 = tx.query_row("SELECT COUNT(*) FROM wo_orders", [], |r| r.get(0))?;
    let mut n = n + 1;
    loop {
        let id = format!("WO-{n:06}");
        if !exists(tx, "SELECT 1 FROM wo_orders WHERE work_order = ?1", &id)? {
            return Ok(id);
        }
        n += 1;
    }
}

/// The required quantity of a component, which goes down to the lines in plans: it must not
/// overflow and must be a quantity a plan holds ([`protocol::bounds::check_qty`]).
fn plan_required(
    item: &str,
    qty_per: Decimal,
    order_qty: Decimal,
    scrap_pct: Decimal,
) -> Result<Decimal, WoRejection> {
    let Some(required) = required_qty(qty_per, order_qty, scrap_pct) else {
        return Err(WoRejection::Invalid(format!(
            "the required quantity of component {item:?} overflows; expected a smaller order quantity"
        )));
    };
    protocol::bounds::check_qty("required", required).map_err(|v| {
        WoRejection::Invalid(format!(
            "component {item:?}: {v}, and it goes down to the lines in a plan; expected a smaller order quantity"
        ))
    })?;
    Ok(required)
}

pub(super) fn create(
    tx: &Transaction<'_>,
    order: &NewWorkOrder,
    now: DateTime<Utc>,
) -> Result<Result<String, WoRejection>, StoreError> {
    let Some(uom) = item_uom(tx, &order.item)? else {
        return Ok(Err(WoRejection::Invalid(format!(
            "item {:?} is not in the item master; expected an item imported with post /api/v1/import/items",
            order.item
        ))));
    };
    if !exists(tx, "SELECT 1 FROM mes_lines WHERE line = ?1", &order.line)? {
        return Ok(Err(WoRejection::Invalid(format!(
            "line {:?} does not exist; expected a line created with put /api/v1/lines/{{id}}",
            order.line
        ))));
    }
    let routing = read_routing(tx, &order.item)?;
    if routing.is_empty() {
        return Ok(Err(WoRejection::Invalid(format!(
            "item {:?} has no routing; expected one set with put /api/v1/routings/{}",
            order.item, order.item
        ))));
    }
    let id = match &order.work_order {
        Some(id) => {
            if exists(tx, "SELECT 1 FROM wo_orders WHERE work_order = ?1", id)? {
                return Ok(Err(WoRejection::Conflict(format!(
                    "work order {id:?} already exists; expected a new id, or none to have one generated"
                ))));
            }
            id.clone()
        }
        None => generated_id(tx)?,
    };
    // The BOM revision in effect on the due date, phantoms replaced by their components, in
    // base units (`super::erp::work_order_components`).
    let bom: Vec<(String, String, String)> =
        super::erp::work_order_components(tx, &order.item, order.due)?
            .into_iter()
            .map(|(c, q, s)| (c, q.to_string(), s.to_string()))
            .collect();
    let now = ts(now);
    tx.prepare_cached(
        "INSERT INTO wo_orders (work_order, item, qty, uom, due, priority, line, state,
             held_from, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'planned', NULL, ?8, ?8)",
    )?
    .execute(params![
        id,
        order.item,
        order.qty.normalize().to_string(),
        uom,
        order.due.to_string(),
        order.priority,
        order.line,
        now
    ])?;
    let mut op = tx.prepare_cached(
        "INSERT INTO wo_operations (work_order, operation, description, work_center,
             ideal_cycle_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for r in &routing {
        op.execute(params![
            id,
            r.operation,
            r.description,
            r.work_center,
            ideal_ms(r.ideal_cycle_s)
        ])?;
    }
    let mut component = tx.prepare_cached(
        "INSERT INTO wo_components (work_order, item, position, qty_per, scrap_pct, required,
             uom, issued, unplanned)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '0', 0)",
    )?;
    for (i, (item, qty_per, scrap)) in bom.iter().enumerate() {
        let (qty_per_d, scrap_d) = (decimal(qty_per)?, decimal(scrap)?);
        let required = match plan_required(item, qty_per_d, order.qty, scrap_d) {
            Ok(required) => required,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let uom = item_uom(tx, item)?.unwrap_or_default();
        component.execute(params![
            id,
            item,
            i as i64,
            qty_per,
            scrap,
            required.to_string(),
            uom
        ])?;
    }
    // Head office's live pages count the orders due in a period: they refresh.
    super::changes::notify(tx, &crate::store::StoreChange::WorkOrders)?;
    Ok(Ok(id))
}

#[async_trait]
impl WorkOrderStore for SqlStore {
    async fn put_line(&self, line: Line) -> WoResult<Changed<Line>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(edge) = &line.edge_id
                && !exists(&tx, "SELECT 1 FROM edges WHERE edge_id = ?1", edge)?
            {
                return Ok(Err(WoRejection::Invalid(format!(
                    "edge {edge:?} does not exist; expected an edge created with post /api/v1/edges"
                ))));
            }
            if !exists(&tx, "SELECT 1 FROM plants WHERE plant = ?1", &line.plant)? {
                return Ok(Err(WoRejection::Invalid(format!(
                    "plant {:?} does not exist; expected a plant created with put /api/v1/plants/{{plant}}",
                    line.plant
                ))));
            }
            let before = line_edges(&tx)?;
            let plant_before: Option<String> = tx
                .prepare_cached("SELECT plant FROM mes_lines WHERE line = ?1")?
                .query_row(params![line.line], |r| r.get(0))
                .optional()?;
            tx.prepare_cached(
                "INSERT INTO mes_lines (line, description, edge_id, plant) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (line) DO UPDATE SET description = excluded.description,
                     edge_id = excluded.edge_id, plant = excluded.plant",
            )?
            .execute(params![line.line, line.description, line.edge_id, line.plant])?;
            let after = line_edges(&tx)?;
            let mut plans = if before.get(&line.line) == after.get(&line.line) {
                Vec::new()
            } else {
                republish(&tx, &[&line.line], &before, &after)?
            };
            if plant_before.is_some_and(|p| p != line.plant) {
                // Another plant's rules now apply to the line's edge.
                plans.extend(super::operators::republish(&tx)?);
            }
            tx.commit()?;
            Ok(Ok(Changed { value: line, plans }))
        })
        .await
    }

    async fn lines(&self) -> Result<Vec<Line>, StoreError> {
        self.read(|conn| read_lines(conn)).await
    }

    async fn put_work_center(&self, wc: WorkCenter) -> WoResult<Changed<WorkCenter>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !exists(&tx, "SELECT 1 FROM mes_lines WHERE line = ?1", &wc.line)? {
                return Ok(Err(WoRejection::Invalid(format!(
                    "line {:?} does not exist; expected a line created with put /api/v1/lines/{{id}}",
                    wc.line
                ))));
            }
            let old: Option<(String, Option<String>)> = tx
                .prepare_cached("SELECT line, station FROM mes_work_centers WHERE work_center = ?1")?
                .query_row(params![wc.work_center], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            tx.prepare_cached(
                "INSERT INTO mes_work_centers (work_center, description, line, station, hours_per_day)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (work_center) DO UPDATE SET description = excluded.description,
                     line = excluded.line, station = excluded.station,
                     hours_per_day = excluded.hours_per_day",
            )?
            .execute(params![
                wc.work_center,
                wc.description,
                wc.line,
                wc.station,
                wc.hours_per_day.map(|h| h.to_string())
            ])?;
            let plans = match old {
                Some((old_line, old_station)) if old_line != wc.line || old_station != wc.station => {
                    let edges = line_edges(&tx)?;
                    republish(&tx, &[&old_line, &wc.line], &edges, &edges)?
                }
                _ => Vec::new(),
            };
            tx.commit()?;
            Ok(Ok(Changed { value: wc, plans }))
        })
        .await
    }

    async fn work_centers(&self) -> Result<Vec<WorkCenter>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT work_center, description, line, station, hours_per_day FROM mes_work_centers
                 ORDER BY work_center",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    WorkCenter {
                        work_center: r.get(0)?,
                        description: r.get(1)?,
                        line: r.get(2)?,
                        station: r.get(3)?,
                        hours_per_day: None,
                    },
                    r.get::<_, Option<String>>(4)?,
                ))
            })?;
            rows.map(|row| {
                let (mut wc, hours) = row?;
                wc.hours_per_day = hours.as_deref().map(decimal).transpose()?;
                Ok(wc)
            })
            .collect()
        })
        .await
    }

    async fn put_routing(&self, routing: Routing) -> WoResult<Routing> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if item_uom(&tx, &routing.item)?.is_none() {
                return Ok(Err(WoRejection::Invalid(format!(
                    "item {:?} is not in the item master; expected an item imported with post /api/v1/import/items",
                    routing.item
                ))));
            }
            for op in &routing.operations {
                if !exists(
                    &tx,
                    "SELECT 1 FROM mes_work_centers WHERE work_center = ?1",
                    &op.work_center,
                )? {
                    return Ok(Err(WoRejection::Invalid(format!(
                        "operation {}: work center {:?} does not exist; expected one created with put /api/v1/work-centers/{{id}}",
                        op.operation, op.work_center
                    ))));
                }
            }
            tx.prepare_cached("DELETE FROM mes_routing_ops WHERE item = ?1")?
                .execute(params![routing.item])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO mes_routing_ops (item, operation, description, work_center,
                     ideal_cycle_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for op in &routing.operations {
                insert.execute(params![
                    routing.item,
                    op.operation,
                    op.description,
                    op.work_center,
                    ideal_ms(op.ideal_cycle_s)
                ])?;
            }
            drop(insert);
            let operations = read_routing(&tx, &routing.item)?;
            // An operation's ideal cycle time is in the kept figures of the runs it made.
            super::floor::forget_all(&tx)?;
            tx.commit()?;
            Ok(Ok(Routing {
                item: routing.item,
                operations,
            }))
        })
        .await
    }

    async fn routing(&self, item: String) -> Result<Option<Routing>, StoreError> {
        self.read(move |conn| {
            let operations = read_routing(conn, &item)?;
            Ok((!operations.is_empty()).then_some(Routing { item, operations }))
        })
        .await
    }

    async fn import_routings(
        &self,
        rows: Vec<CsvLine<RoutingRow>>,
    ) -> Result<Result<usize, Vec<RowError>>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut errors = Vec::new();
            for row in &rows {
                let r = &row.row;
                if item_uom(&tx, &r.item)?.is_none() {
                    errors.push(RowError::new(
                        row.line,
                        "item",
                        format!(
                            "item {:?} is not in the item master; expected an item imported with post /api/v1/import/items first",
                            r.item
                        ),
                    ));
                }
                if !exists(
                    &tx,
                    "SELECT 1 FROM mes_work_centers WHERE work_center = ?1",
                    &r.work_center,
                )? {
                    errors.push(RowError::new(
                        row.line,
                        "work_center",
                        format!(
                            "work center {:?} does not exist; expected one created with put /api/v1/work-centers/{{id}}",
                            r.work_center
                        ),
                    ));
                }
            }
            if !errors.is_empty() {
                return Ok(Err(errors));
            }
            let items: BTreeSet<&str> = rows.iter().map(|r| r.row.item.as_str()).collect();
            let mut delete = tx.prepare_cached("DELETE FROM mes_routing_ops WHERE item = ?1")?;
            for item in items {
                delete.execute(params![item])?;
            }
            let mut insert = tx.prepare_cached(
                "INSERT INTO mes_routing_ops (item, operation, description, work_center,
                     ideal_cycle_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for row in &rows {
                let r = &row.row;
                insert.execute(params![
                    r.item,
                    r.operation,
                    r.description,
                    r.work_center,
                    r.ideal_cycle_ms
                ])?;
            }
            drop((delete, insert));
            super::floor::forget_all(&tx)?;
            tx.commit()?;
            Ok(Ok(rows.len()))
        })
        .await
    }

    async fn create_work_order(
        &self,
        order: NewWorkOrder,
        now: DateTime<Utc>,
    ) -> WoResult<WorkOrderView> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = match create(&tx, &order, now)? {
                Ok(id) => id,
                Err(rejection) => return Ok(Err(rejection)),
            };
            let view = view_of(&tx, &id)?;
            tx.commit()?;
            Ok(Ok(view))
        })
        .await
    }

    async fn work_order_items(
        &self,
        orders: Vec<String>,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        if orders.is_empty() {
            return Ok(Default::default());
        }
        self.read(move |conn| {
            let values: Vec<Value<'_>> = orders.iter().map(|o| Value::from(o.as_str())).collect();
            let rows = conn.query_rows(
                &values,
                1,
                |keys| {
                    format!(
                        "SELECT work_order, item FROM wo_orders
                         WHERE work_order IN (SELECT column1 FROM (VALUES {keys}) AS k)"
                    )
                },
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )?;
            Ok(rows.into_iter().collect())
        })
        .await
    }

    async fn work_orders(
        &self,
        filter: Option<State>,
    ) -> Result<Vec<WorkOrderSummary>, StoreError> {
        self.read(move |conn| {
            summaries(
                conn,
                "WHERE CAST(?1 AS TEXT) IS NULL OR o.state = ?1",
                params![filter.map(State::as_str)],
            )
        })
        .await
    }

    async fn work_orders_due(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<WorkOrderSummary>, StoreError> {
        self.read(move |conn| {
            summaries(
                conn,
                "WHERE o.due >= ?1 AND o.due <= ?2",
                params![from.to_string(), to.to_string()],
            )
        })
        .await
    }

    async fn work_order(&self, id: String) -> Result<Option<WorkOrderView>, StoreError> {
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let view = load_view(&tx, &id)?;
            tx.finish()?;
            Ok(view)
        })
        .await
    }

    async fn work_order_action(
        &self,
        id: String,
        action: Action,
        by: String,
        now: DateTime<Utc>,
    ) -> WoResult<Changed<WorkOrderView>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match act(&tx, &id, action, &by, now)? {
                Ok(changed) => {
                    tx.commit()?;
                    Ok(Ok(changed))
                }
                Err(r @ WoRejection::AwaitingApproval(_)) => {
                    // The request asked for the approval is kept.
                    tx.commit()?;
                    Ok(Err(r))
                }
                Err(r) => Ok(Err(r)),
            }
        })
        .await
    }

    async fn change_work_order(
        &self,
        id: String,
        change: WorkOrderChange,
        now: DateTime<Utc>,
    ) -> WoResult<Changed<WorkOrderView>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(String, Option<String>)> = tx
                .prepare_cached("SELECT state, held_from FROM wo_orders WHERE work_order = ?1")?
                .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((st, held)) = row else {
                return Ok(Err(no_order(&id)));
            };
            let before = status(&st, held.as_deref())?;
            if let Err(refused) = transition(before, Action::Change) {
                return Ok(Err(WoRejection::Refused(refused)));
            }
            if let Some(qty) = change.qty {
                let components: Vec<(String, String, String)> = {
                    let mut stmt = tx.prepare_cached(
                        "SELECT item, qty_per, scrap_pct FROM wo_components
                         WHERE work_order = ?1 AND unplanned = 0",
                    )?;
                    stmt.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<Result<_, _>>()?
                };
                let mut update = tx.prepare_cached(
                    "UPDATE wo_components SET required = ?3 WHERE work_order = ?1 AND item = ?2",
                )?;
                for (item, qty_per, scrap) in components {
                    let required =
                        match plan_required(&item, decimal(&qty_per)?, qty, decimal(&scrap)?) {
                            Ok(required) => required,
                            Err(rejection) => return Ok(Err(rejection)),
                        };
                    update.execute(params![id, item, required.to_string()])?;
                }
            }
            tx.prepare_cached(
                "UPDATE wo_orders SET qty = COALESCE(?2, qty), priority = COALESCE(?3, priority),
                     due = COALESCE(?4, due), updated_at = ?5
                 WHERE work_order = ?1",
            )?
            .execute(params![
                id,
                change.qty.map(|q| q.normalize().to_string()),
                change.priority,
                change.due.map(|d| d.to_string()),
                ts(now)
            ])?;
            let plans = if before.state().is_dispatched() {
                let lines = line_edges(&tx)?;
                let order = load_dispatch(&tx, &id)?
                    .ok_or_else(|| StoreError::Corrupt(format!("work order {id:?} vanished")))?;
                publish(&tx, &order.edges(&lines), &lines)?
            } else {
                Vec::new()
            };
            super::changes::notify(&tx, &crate::store::StoreChange::WorkOrders)?;
            let view = view_of(&tx, &id)?;
            tx.commit()?;
            Ok(Ok(Changed { value: view, plans }))
        })
        .await
    }

    async fn unmatched_work_orders(&self) -> Result<Vec<UnmatchedOrder>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT work_order, events, last_edge_id, last_at FROM wo_unmatched
                 ORDER BY work_order",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (work_order, events, last_edge_id, last_at) = row?;
                out.push(UnmatchedOrder {
                    work_order,
                    events: to_u64(events),
                    last_edge_id,
                    last_at: parse_ts(&last_at)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn hold_lot(
        &self,
        lot: String,
        item: Option<String>,
        reason: String,
        now: DateTime<Utc>,
    ) -> WoResult<Changed<LotHold>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let item = match lot_item(&tx, &lot, item)? {
                Ok(item) => item,
                Err(rejection) => return Ok(Err(rejection)),
            };
            let previous: Option<String> = tx
                .prepare_cached("SELECT item FROM lot_holds WHERE lot = ?1")?
                .query_row(params![lot], |r| r.get(0))
                .optional()?;
            let hold = LotHold {
                lot,
                item,
                reason,
                held_at: now,
            };
            tx.prepare_cached(
                "INSERT INTO lot_holds (lot, item, reason, held_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (lot) DO UPDATE SET item = excluded.item, reason = excluded.reason,
                     held_at = excluded.held_at",
            )?
            .execute(params![hold.lot, hold.item, hold.reason, ts(now)])?;
            let lines = line_edges(&tx)?;
            let items: Vec<&str> = std::iter::once(hold.item.as_str())
                .chain(previous.as_deref())
                .collect();
            let plans = publish_for_items(&tx, &items, &lines)?;
            tx.commit()?;
            Ok(Ok(Changed { value: hold, plans }))
        })
        .await
    }

    async fn release_lot(&self, lot: String) -> WoResult<Changed<LotHold>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let held = read_lot_holds(&tx)?.into_iter().find(|h| h.lot == lot);
            let Some(hold) = held else {
                return Ok(Err(WoRejection::NotFound(format!(
                    "lot {lot:?} is not on hold; expected a lot held with post /api/v1/lots/{lot}/hold"
                ))));
            };
            tx.prepare_cached("DELETE FROM lot_holds WHERE lot = ?1")?
                .execute(params![lot])?;
            let lines = line_edges(&tx)?;
            let plans = publish_for_items(&tx, &[hold.item.as_str()], &lines)?;
            tx.commit()?;
            Ok(Ok(Changed { value: hold, plans }))
        })
        .await
    }

    async fn lot_holds(&self) -> Result<Vec<LotHold>, StoreError> {
        self.read(|conn| read_lot_holds(conn)).await
    }

    async fn set_lot_expiry(
        &self,
        lot: String,
        item: Option<String>,
        expires: NaiveDate,
        now: DateTime<Utc>,
    ) -> WoResult<Changed<LotExpiry>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let item = match lot_item(&tx, &lot, item)? {
                Ok(item) => item,
                Err(rejection) => return Ok(Err(rejection)),
            };
            let previous: Option<String> = tx
                .prepare_cached("SELECT item FROM lot_expiry WHERE lot = ?1")?
                .query_row(params![lot], |r| r.get(0))
                .optional()?;
            let set = LotExpiry {
                lot,
                item,
                expires,
                set_at: now,
            };
            tx.prepare_cached(
                "INSERT INTO lot_expiry (lot, item, expires, set_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (lot) DO UPDATE SET item = excluded.item,
                     expires = excluded.expires, set_at = excluded.set_at",
            )?
            .execute(params![set.lot, set.item, expires.to_string(), ts(now)])?;
            let lines = line_edges(&tx)?;
            let items: Vec<&str> = std::iter::once(set.item.as_str())
                .chain(previous.as_deref())
                .collect();
            let plans = publish_for_items(&tx, &items, &lines)?;
            tx.commit()?;
            Ok(Ok(Changed { value: set, plans }))
        })
        .await
    }
}

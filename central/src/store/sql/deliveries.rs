//! [`DeliveryStore`] on SQLite and PostgreSQL: deliveries of confirmed orders, posted to the
//! stock ledger, and the recall list walked down the genealogy.
//!
//! A delivery keeps the order's number, the customer's name and PO as they were when it
//! shipped (it is a document that was handed over; a later rename does not change it).
//!
//! **Architecture Invariant:** a delivery, its ledger rows (reason `shipped`, the delivery's
//! number in the note), the order lines' `shipped_qty`, the order's status and history are one
//! transaction: either all of it is there or none of it.
//!
//! Shipments scanned at an edge's dock (`lot_shipped` events) are booked by ingest in its
//! transaction ([`book_edge_shipment`]): the ledger row through ingest's stock booking, the
//! rest here. The picks of one shipment (`(edge, shipment, order)`, `crm_edge_shipments`)
//! make one delivery. A committed fact is never refused: where central disagrees (order
//! unknown or not confirmed, no such line, another item, more than is open, a lot held here
//! meanwhile) the event is booked as far as it can be and each discrepancy is kept in
//! `crm_shipment_exceptions`, the delivery's warnings and the order's history.

use super::crm::{Params, bind, decimal, from_json, json, next_counter, next_free, scoped};
use super::db::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use super::{SqlStore, StoreError, parse_ts, stock, ts};
use crate::crm::pdf::sscc;
use crate::crm::scope::SalesScope;
use crate::people::plants::DEFAULT_PLANT;
use crate::store::deliveries::{
    Delivery, DeliveryInput, DeliveryLine, DeliveryPackage, DeliveryQuery, DeliveryStore,
    MAX_RECALL_DEPTH, MAX_RECALL_LOTS, RecallList, RecallRow, ShipmentException,
};
use crate::store::sales::{SalesRefusal, SalesResult};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use protocol::NegativeStock;
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, VecDeque};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS crm_deliveries (
    id            INTEGER PRIMARY KEY,
    number        TEXT NOT NULL,
    doc           INTEGER NOT NULL,
    order_number  TEXT NOT NULL,
    customer      TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    customer_po   TEXT NOT NULL,
    owner         TEXT NOT NULL,
    delivery_date TEXT NOT NULL,
    note          TEXT NOT NULL,
    warnings      TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS crm_deliveries_number ON crm_deliveries (number);
CREATE INDEX IF NOT EXISTS crm_deliveries_doc ON crm_deliveries (doc, id);
CREATE INDEX IF NOT EXISTS crm_deliveries_customer ON crm_deliveries (customer, id);
CREATE TABLE IF NOT EXISTS crm_delivery_lines (
    delivery    INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    line        INTEGER NOT NULL,
    item        TEXT NOT NULL,
    description TEXT NOT NULL,
    qty         TEXT NOT NULL,
    uom         TEXT NOT NULL,
    lot         TEXT NOT NULL,
    location    TEXT NOT NULL,
    PRIMARY KEY (delivery, seq)
);
CREATE INDEX IF NOT EXISTS crm_delivery_lines_lot ON crm_delivery_lines (lot, delivery);
CREATE TABLE IF NOT EXISTS crm_delivery_packages (
    delivery INTEGER NOT NULL,
    package  INTEGER NOT NULL,
    sscc     TEXT NOT NULL,
    PRIMARY KEY (delivery, package)
);
CREATE UNIQUE INDEX IF NOT EXISTS crm_delivery_packages_sscc ON crm_delivery_packages (sscc);
CREATE TABLE IF NOT EXISTS shipping_edges (
    edge_id            TEXT PRIMARY KEY,
    gs1_company_prefix TEXT
);
CREATE TABLE IF NOT EXISTS crm_edge_shipments (
    edge_id      TEXT NOT NULL,
    shipment     TEXT NOT NULL,
    order_number TEXT NOT NULL,
    delivery     INTEGER NOT NULL,
    PRIMARY KEY (edge_id, shipment, order_number)
);
CREATE TABLE IF NOT EXISTS crm_shipment_exceptions (
    id           INTEGER PRIMARY KEY,
    edge_id      TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    at           TEXT NOT NULL,
    order_number TEXT NOT NULL,
    line         INTEGER NOT NULL,
    lot          TEXT NOT NULL,
    qty          TEXT NOT NULL,
    delivery     TEXT,
    problem      TEXT NOT NULL
);
";

fn text(d: Decimal) -> String {
    d.normalize().to_string()
}

/// `DN000001`: the next free delivery number.
fn next_number(conn: &Connection) -> Result<String, StoreError> {
    next_free(
        conn,
        "delivery",
        "SELECT 1 FROM crm_deliveries WHERE number = ?1",
        |n| format!("DN{n:06}"),
    )?
    .ok_or_else(|| StoreError::Conflict("no free delivery number in 1000 tries".into()))
}

const DELIVERY_COLUMNS: &str = "d.id, d.number, d.doc, d.order_number, d.customer, d.customer_name,
    d.customer_po, d.owner, d.delivery_date, d.note, d.warnings, d.created_by, d.created_at";

fn delivery_row(r: &super::db::Row<'_>) -> Result<Delivery, StoreError> {
    let day: String = r.get(8)?;
    Ok(Delivery {
        id: r.get(0)?,
        number: r.get(1)?,
        order: r.get(2)?,
        order_number: r.get(3)?,
        customer: r.get(4)?,
        customer_name: r.get(5)?,
        customer_po: r.get(6)?,
        owner: r.get(7)?,
        date: NaiveDate::parse_from_str(&day, "%Y-%m-%d")
            .map_err(|e| StoreError::Corrupt(format!("delivery date {day:?}: {e}")))?,
        note: r.get(9)?,
        warnings: from_json(&r.get::<_, String>(10)?)?,
        created_by: r.get(11)?,
        created_at: parse_ts(&r.get::<_, String>(12)?)?,
        lines: Vec::new(),
        packages: Vec::new(),
    })
}

fn with_parts(conn: &Connection, d: &mut Delivery) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT line, item, description, qty, uom, lot, location FROM crm_delivery_lines
         WHERE delivery = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![d.id], |r| {
        Ok((
            r.get::<_, u32>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    for row in rows {
        let (line, item, description, qty, uom, lot, location) = row?;
        d.lines.push(DeliveryLine {
            line,
            item,
            description,
            qty: decimal(&qty)?,
            uom,
            lot,
            location,
        });
    }
    let mut stmt = conn.prepare_cached(
        "SELECT package, sscc FROM crm_delivery_packages WHERE delivery = ?1 ORDER BY package",
    )?;
    let rows = stmt.query_map(params![d.id], |r| {
        Ok(DeliveryPackage {
            package: r.get(0)?,
            sscc: r.get(1)?,
        })
    })?;
    for row in rows {
        d.packages.push(row?);
    }
    Ok(())
}

fn read_delivery(
    conn: &Connection,
    id: i64,
    scope: &SalesScope,
) -> Result<Option<Delivery>, StoreError> {
    let mut params: Params = vec![super::db::Value::from(id)];
    let filter = scoped(scope, "d.owner", &mut params);
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM crm_deliveries d WHERE d.id = ?1{filter}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query_map(params_from_iter(params), |r| Ok(delivery_row(r)))?;
    let Some(row) = rows.next() else {
        return Ok(None);
    };
    let mut d = row??;
    drop(rows);
    with_parts(conn, &mut d)?;
    Ok(Some(d))
}

/// Where a line's quantity is taken from: `(lot, location, qty)` rows.
type Picks = Vec<(String, String, Decimal)>;

/// Why a lot is on quality hold (`None`: it is not).
fn held(conn: &Connection, lot: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT reason FROM lot_holds WHERE lot = ?1")?
        .query_row(params![lot], |r| r.get(0))
        .optional()?)
}

/// Picks stock for `qty` of `item`: the lot given (at the location given, else wherever it
/// is), else the item's lots in name order. A lot on quality hold never ships. What the positive balances do not cover is taken
/// from the last place picked (the plant's negative-stock rule then decides). `Err`: why not.
fn pick(
    conn: &Connection,
    item: &str,
    lot: Option<&str>,
    location: Option<&str>,
    qty: Decimal,
) -> Result<Result<Picks, String>, StoreError> {
    if let Some(lot) = lot
        && let Some(reason) = held(conn, lot)?
    {
        return Ok(Err(format!(
            "lot {lot} of {item} is on quality hold ({reason}); a held lot does not ship"
        )));
    }
    let mut rows = stock::balances(conn, Some(item), lot, location)?;
    let n_found = rows.len();
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        if held(conn, &row.1)?.is_none() {
            kept.push(row);
        }
    }
    rows = kept;
    if rows.is_empty() && n_found > 0 {
        let at = location.map(|l| format!(" at {l}")).unwrap_or_default();
        return Ok(Err(format!(
            "every lot of {item} in stock{at} is on quality hold; a held lot does not ship"
        )));
    }
    if rows.is_empty() {
        let at = location.map(|l| format!(" at {l}")).unwrap_or_default();
        return Ok(Err(match lot {
            Some(lot) => format!("lot {lot} of {item} is not in stock{at}"),
            None => format!("{item} has no stock{at} to ship"),
        }));
    }
    let mut picks: Picks = Vec::new();
    let mut left = qty;
    for (_, lot, location, _, on_hand) in &rows {
        if left <= Decimal::ZERO {
            break;
        }
        if *on_hand <= Decimal::ZERO {
            continue;
        }
        let take = left.min(*on_hand);
        picks.push((lot.clone(), location.clone(), take));
        left -= take;
    }
    if left > Decimal::ZERO {
        match picks.last_mut() {
            Some(last) => last.2 += left,
            None => {
                let (_, lot, location, _, _) = &rows[0];
                picks.push((lot.clone(), location.clone(), left));
            }
        }
    }
    Ok(Ok(picks))
}

fn refuse<T>(why: String) -> Result<Result<T, SalesRefusal>, StoreError> {
    Ok(Err(SalesRefusal::Conflict(why)))
}

fn create(
    conn: &mut Connection,
    order_id: i64,
    input: DeliveryInput,
    prefix: String,
    by: String,
    scope: SalesScope,
    now: DateTime<Utc>,
) -> SalesResult<Delivery> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let today = now.date_naive();
    let Some(order) = super::sales::read_doc(&tx, "order", order_id, &scope, today)? else {
        return Ok(Err(SalesRefusal::NotFound(format!(
            "no sales order {order_id}"
        ))));
    };
    if order.status != "confirmed" {
        return refuse(format!(
            "sales order {} is {}; only a confirmed order ships",
            order.number, order.status
        ));
    }
    // What each line ships in this delivery, summed with checked arithmetic.
    let mut asked: BTreeMap<u32, Decimal> = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, l) in input.lines.iter().enumerate() {
        if !order.lines.iter().any(|o| o.line == l.line) {
            problems.push(format!(
                "lines[{}].line: {}; sales order {} has no such line",
                i + 1,
                l.line,
                order.number
            ));
            continue;
        }
        let sum = asked.entry(l.line).or_default();
        match sum.checked_add(l.qty) {
            Some(s) => *sum = s,
            None => problems.push(format!("lines[{}].qty: the sum overflows", i + 1)),
        }
    }
    if !problems.is_empty() {
        return Ok(Err(SalesRefusal::Invalid(problems)));
    }
    for (line, qty) in &asked {
        let Some(o) = order.lines.iter().find(|o| o.line == *line) else {
            continue;
        };
        let open = o.qty.checked_sub(o.shipped_qty).unwrap_or(Decimal::ZERO);
        if *qty > open {
            return refuse(format!(
                "line {line} ({}): {} {} to ship, but {} ordered and {} shipped leave {}",
                o.item,
                qty.normalize(),
                o.uom,
                o.qty.normalize(),
                o.shipped_qty.normalize(),
                open.max(Decimal::ZERO).normalize()
            ));
        }
    }
    let rule = stock::plant(&tx, DEFAULT_PLANT)?
        .map(|p| p.negative_stock)
        .unwrap_or(NegativeStock::Flag);
    let number = next_number(&tx)?;
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO crm_deliveries (number, doc, order_number, customer, customer_name,
                 customer_po, owner, delivery_date, note, warnings, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '[]', ?10, ?11) RETURNING id",
        )?
        .query_row(
            params![
                number,
                order.id,
                order.number,
                order.customer,
                order.customer_name,
                order.customer_po,
                order.owner,
                today.format("%Y-%m-%d").to_string(),
                input.note,
                by,
                ts(now)
            ],
            |r| r.get(0),
        )?;
    let mut warnings = Vec::new();
    let mut seq = 0u32;
    for l in &input.lines {
        let Some(o) = order.lines.iter().find(|o| o.line == l.line) else {
            continue;
        };
        let picks = match pick(&tx, &o.item, l.lot.as_deref(), l.location.as_deref(), l.qty)? {
            Ok(p) => p,
            Err(why) => return refuse(format!("line {}: {why}", l.line)),
        };
        for (lot, location, qty) in picks {
            let (before, after) =
                stock::add_to_balance(&tx, &o.item, &lot, &location, &o.uom, -qty)?;
            if after < Decimal::ZERO {
                let said = format!(
                    "line {}: lot {lot} of {} at {location} had {} {}; shipping {} leaves {}",
                    l.line,
                    o.item,
                    before.normalize(),
                    o.uom,
                    qty.normalize(),
                    after.normalize()
                );
                match rule {
                    NegativeStock::Refuse => {
                        return refuse(format!("{said}, and the plant refuses negative stock"));
                    }
                    NegativeStock::Flag => warnings.push(format!("negative stock: {said}")),
                    NegativeStock::Allow => {}
                }
            }
            tx.prepare_cached(
                "INSERT INTO inv_ledger (item, lot, location, qty_delta, uom, at, reason, note, booked_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'shipped', ?7, ?8)",
            )?
            .execute(params![
                o.item,
                lot,
                location,
                text(-qty),
                o.uom,
                ts(now),
                format!("delivery {number} of sales order {}", order.number),
                by
            ])?;
            seq += 1;
            tx.prepare_cached(
                "INSERT INTO crm_delivery_lines (delivery, seq, line, item, description, qty, uom, lot, location)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![id, seq, l.line, o.item, o.description, text(qty), o.uom, lot, location])?;
        }
    }
    let mut completed = true;
    for o in &order.lines {
        let shipped = match asked.get(&o.line) {
            Some(qty) => o.shipped_qty.checked_add(*qty).unwrap_or(o.shipped_qty),
            None => o.shipped_qty,
        };
        if shipped < o.qty {
            completed = false;
        }
        if asked.contains_key(&o.line) {
            tx.prepare_cached(
                "UPDATE crm_sales_lines SET shipped_qty = ?3 WHERE doc = ?1 AND line = ?2",
            )?
            .execute(params![order.id, o.line, text(shipped)])?;
        }
    }
    let mut packages = Vec::new();
    for package in 1..=input.packages {
        let serial = next_counter(&tx, "sscc")?;
        let code = match sscc(0, &prefix, u64::try_from(serial).unwrap_or(u64::MAX)) {
            Ok(code) => code,
            Err(e) => return refuse(format!("package {package}'s SSCC cannot be made: {e}")),
        };
        tx.prepare_cached(
            "INSERT INTO crm_delivery_packages (delivery, package, sscc) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, package, code])?;
        packages.push(code);
    }
    tx.prepare_cached("UPDATE crm_deliveries SET warnings = ?2 WHERE id = ?1")?
        .execute(params![id, json(&warnings)?])?;
    let lines: Vec<serde_json::Value> = asked
        .iter()
        .map(|(line, qty)| json!({"line": line, "qty": qty.normalize().to_string()}))
        .collect();
    super::sales::history(
        &tx,
        order.id,
        &by,
        "shipped",
        json!({"delivery": number, "lines": lines, "packages": packages, "warnings": warnings}),
        now,
    )?;
    if completed {
        tx.prepare_cached(
            "UPDATE crm_sales_docs SET status = 'completed', updated_at = ?2 WHERE id = ?1",
        )?
        .execute(params![order.id, ts(now)])?;
        super::sales::history(
            &tx,
            order.id,
            &by,
            "completed",
            json!({"delivery": number, "reason": "every line shipped"}),
            now,
        )?;
    }
    // What shipped is no longer open on the docks.
    republish_shipping(&tx)?;
    let delivery = read_delivery(&tx, id, &SalesScope::All)?
        .ok_or_else(|| StoreError::Corrupt(format!("delivery {id} vanished")))?;
    tx.commit()?;
    Ok(Ok(delivery))
}

/// What a `lot_shipped` event means for sales, beside the ledger row ingest's stock booking
/// makes of it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ShippedFact {
    pub order: String,
    pub line: u32,
    pub item: String,
    pub lot: String,
    pub qty: Decimal,
    pub uom: String,
    pub location: String,
    pub shipment: String,
}

impl ShippedFact {
    pub(super) fn of(kind: &protocol::EventKind) -> Option<ShippedFact> {
        let protocol::EventKind::LotShipped {
            order,
            line,
            item,
            lot,
            qty,
            uom,
            location,
            shipment,
        } = kind
        else {
            return None;
        };
        Some(ShippedFact {
            order: order.0.clone(),
            line: *line,
            item: item.0.clone(),
            lot: lot.0.clone(),
            qty: *qty,
            uom: uom.clone(),
            location: location.0.clone(),
            shipment: shipment.clone(),
        })
    }
}

/// The edges that ship, with the GS1 company prefix of their deliveries' SSCCs.
fn shipping_edges(conn: &Connection) -> Result<Vec<(String, Option<String>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT edge_id, gs1_company_prefix FROM shipping_edges ORDER BY edge_id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether `edge_id` is one of `[shipping] edges`.
pub(super) fn ships(conn: &Connection, edge_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM shipping_edges WHERE edge_id = ?1")?
        .exists(params![edge_id])?)
}

/// What a plan of `edge_id` ships: nothing unless the edge is one of `[shipping] edges`; else
/// the open lines of confirmed orders, earliest confirmed date first (lines without one last),
/// at most [`protocol::plan::MAX_PLAN_SHIPMENTS`].
pub(super) fn plan_shipments(
    conn: &Connection,
    edge_id: &str,
) -> Result<Vec<protocol::PlanShipment>, StoreError> {
    if !ships(conn, edge_id)? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT d.number, d.customer, COALESCE(c.name_zh, ''), COALESCE(c.name_en, ''), l.line,
             l.item, l.qty, l.shipped_qty, l.uom, l.confirmed_date
         FROM crm_sales_lines l JOIN crm_sales_docs d ON d.id = l.doc
         LEFT JOIN crm_customers c ON c.code = d.customer
         WHERE d.kind = 'order' AND d.status = 'confirmed'
         ORDER BY COALESCE(l.confirmed_date, '9999-12-31'), d.number, l.line",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, u32>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
            r.get::<_, Option<String>>(9)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (order, customer, zh, en, line, item, qty, shipped, uom, confirmed) = row?;
        let open = decimal(&qty)?
            .checked_sub(decimal(&shipped)?)
            .unwrap_or(Decimal::ZERO);
        if open <= Decimal::ZERO {
            continue;
        }
        if out.len() >= protocol::plan::MAX_PLAN_SHIPMENTS {
            tracing::warn!(
                edge_id,
                max = protocol::plan::MAX_PLAN_SHIPMENTS,
                "more open sales order lines than a plan carries; the latest confirmed are left out"
            );
            break;
        }
        out.push(protocol::PlanShipment {
            order: order.into(),
            customer,
            customer_name: super::sales::customer_name(zh, en),
            line,
            item: item.into(),
            open_qty: open.normalize(),
            uom,
            confirmed: confirmed.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
        });
    }
    Ok(out)
}

/// The lots a dock must know of the items it ships (`lots` the plan holds already are left
/// as they are): the held and expiring ones ([`super::work_orders::item_lots`]), and those in
/// stock at one location (for `wrong_location`), at most
/// [`crate::erp::work_order::MAX_PLAN_LOTS`] in all.
pub(super) fn plan_lots(
    tx: &super::db::Transaction<'_>,
    shipments: &[protocol::PlanShipment],
    lots: &mut Vec<protocol::PlanLot>,
) -> Result<(), StoreError> {
    let mut items: Vec<&str> = shipments.iter().map(|s| s.item.as_str()).collect();
    items.sort_unstable();
    items.dedup();
    let max = crate::erp::work_order::MAX_PLAN_LOTS;
    let mut known: std::collections::HashSet<String> =
        lots.iter().map(|l| l.lot.0.clone()).collect();
    for item in items {
        let mut found = super::work_orders::item_lots(tx, item)?;
        let mut places: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (_, lot, location, _, qty) in stock::balances(tx, Some(item), None, None)? {
            if qty > Decimal::ZERO {
                places.entry(lot).or_default().push(location);
            }
        }
        for (lot, at) in places {
            if let [location] = at.as_slice()
                && !found.iter().any(|l| l.lot.as_str() == lot)
            {
                found.push(protocol::PlanLot {
                    lot: lot.as_str().into(),
                    item: item.into(),
                    expires: None,
                    on_hold: false,
                    hold_reason: None,
                    location: Some(location.as_str().into()),
                    on_hand: None,
                });
            }
        }
        for lot in found {
            if lots.len() >= max {
                tracing::warn!(
                    max,
                    "more lots than a plan carries; a dock's plan leaves some out"
                );
                return Ok(());
            }
            if known.insert(lot.lot.0.clone()) {
                lots.push(lot);
            }
        }
    }
    Ok(())
}

/// The GTINs of the items a dock ships, so a GS1 label on a finished lot finds its item there
/// as a supplier's does on a line.
pub(super) fn plan_gtins(
    conn: &Connection,
    shipments: &[protocol::PlanShipment],
    gtins: &mut BTreeMap<String, protocol::ItemId>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("SELECT gtin FROM erp_item_gtins WHERE item = ?1")?;
    for s in shipments {
        if gtins.values().any(|i| *i == s.item) {
            continue;
        }
        let gtin: Option<String> = stmt
            .query_row(params![s.item.as_str()], |r| r.get(0))
            .optional()?;
        if let Some(gtin) = gtin {
            gtins.insert(gtin, s.item.clone());
        }
    }
    Ok(())
}

/// Publishes the plans of the edges that ship again where what they ship changed (an order
/// confirmed, cancelled or shipped); an edge that ships but has no plan yet gets its first.
pub(super) fn republish_shipping(
    tx: &super::db::Transaction<'_>,
) -> Result<Vec<protocol::Plan>, StoreError> {
    let mut plans = Vec::new();
    for (edge, _) in shipping_edges(tx)? {
        let edge = protocol::EdgeId(edge);
        plans.extend(republish_one(tx, &edge)?);
    }
    Ok(plans)
}

/// One edge's plan again if what central fills in changed, or its first plan.
fn republish_one(
    tx: &super::db::Transaction<'_>,
    edge: &protocol::EdgeId,
) -> Result<Option<protocol::Plan>, StoreError> {
    let known = tx
        .prepare_cached("SELECT 1 FROM edges WHERE edge_id = ?1")?
        .exists(params![edge.as_str()])?;
    if !known {
        return Ok(None);
    }
    let has_plan = tx
        .prepare_cached("SELECT 1 FROM plans WHERE edge_id = ?1")?
        .exists(params![edge.as_str()])?;
    if has_plan {
        return super::spc::republish_edge(tx, edge);
    }
    Ok(Some(super::publish_plan_in(
        tx,
        edge,
        protocol::PlanContent::default(),
    )?))
}

/// `[shipping] edges` into the store: the edges that entered or left the list get a plan
/// again (with or without shipments).
fn configure(
    conn: &mut Connection,
    edges: Vec<String>,
    gs1_company_prefix: Option<String>,
) -> Result<Vec<protocol::Plan>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let before = shipping_edges(&tx)?;
    let mut changed: Vec<String> = before
        .iter()
        .filter(|(e, _)| !edges.contains(e))
        .map(|(e, _)| e.clone())
        .collect();
    changed.extend(
        edges
            .iter()
            .filter(|e| !before.iter().any(|(b, _)| b == *e))
            .cloned(),
    );
    tx.execute("DELETE FROM shipping_edges", [])?;
    for edge in &edges {
        tx.prepare_cached(
            "INSERT INTO shipping_edges (edge_id, gs1_company_prefix) VALUES (?1, ?2)",
        )?
        .execute(params![edge, gs1_company_prefix])?;
    }
    let mut plans = Vec::new();
    for edge in changed {
        let edge = protocol::EdgeId(edge);
        let has_plan = tx
            .prepare_cached("SELECT 1 FROM plans WHERE edge_id = ?1")?
            .exists(params![edge.as_str()])?;
        if has_plan || edges.contains(&edge.0) {
            plans.extend(republish_one(&tx, &edge)?);
        }
    }
    tx.commit()?;
    Ok(plans)
}

/// The delivery of an edge's shipment of `order`: the one its first pick made, or a new one
/// (number, the order's header as it is now, one package with an SSCC when the edge has a GS1
/// company prefix). `(id, number)`.
fn shipment_delivery(
    tx: &Connection,
    edge_id: &str,
    fact: &ShippedFact,
    order: &crate::store::sales::SalesDoc,
    at: DateTime<Utc>,
) -> Result<(i64, String), StoreError> {
    let found: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT d.id, d.number FROM crm_edge_shipments s JOIN crm_deliveries d ON d.id = s.delivery
             WHERE s.edge_id = ?1 AND s.shipment = ?2 AND s.order_number = ?3",
        )?
        .query_row(params![edge_id, fact.shipment, fact.order], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some(found) = found {
        return Ok(found);
    }
    let number = next_number(tx)?;
    let by = format!("edge:{edge_id}");
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO crm_deliveries (number, doc, order_number, customer, customer_name,
                 customer_po, owner, delivery_date, note, warnings, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '[]', ?10, ?11) RETURNING id",
        )?
        .query_row(
            params![
                number,
                order.id,
                order.number,
                order.customer,
                order.customer_name,
                order.customer_po,
                order.owner,
                at.date_naive().format("%Y-%m-%d").to_string(),
                format!("scanned at edge {edge_id}, shipment {}", fact.shipment),
                by,
                ts(at)
            ],
            |r| r.get(0),
        )?;
    tx.prepare_cached(
        "INSERT INTO crm_edge_shipments (edge_id, shipment, order_number, delivery)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![edge_id, fact.shipment, fact.order, id])?;
    let prefix: Option<String> = tx
        .prepare_cached("SELECT gs1_company_prefix FROM shipping_edges WHERE edge_id = ?1")?
        .query_row(params![edge_id], |r| r.get(0))
        .optional()?
        .flatten();
    if let Some(prefix) = prefix {
        let serial = next_counter(tx, "sscc")?;
        match sscc(0, &prefix, u64::try_from(serial).unwrap_or(u64::MAX)) {
            Ok(code) => {
                tx.prepare_cached(
                    "INSERT INTO crm_delivery_packages (delivery, package, sscc) VALUES (?1, 1, ?2)",
                )?
                .execute(params![id, code])?;
            }
            Err(e) => {
                tracing::error!(delivery = number, error = %e, "no SSCC for an edge's delivery")
            }
        }
    }
    Ok((id, number))
}

/// Books the sales side of a `lot_shipped` event of `edge_id` (its ledger row is booked by
/// ingest's stock booking, `stock_warnings` what that found): the delivery of its shipment
/// gets the lot, the order line its `shipped_qty`, the order its history and, once every line
/// is shipped, `completed`. Never refuses: what central disagrees with is booked where it can
/// be and kept as an exception. Returns whether an order changed (its shipping edges' plans
/// are published again).
pub(super) fn book_edge_shipment(
    tx: &Connection,
    edge_id: &str,
    seq: i64,
    at: &str,
    fact: &ShippedFact,
    stock_warnings: Vec<String>,
) -> Result<bool, StoreError> {
    let when = parse_ts(at)?;
    let mut problems = stock_warnings;
    let doc: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM crm_sales_docs WHERE kind = 'order' AND number = ?1
             ORDER BY revision DESC LIMIT 1",
        )?
        .query_row(params![fact.order], |r| r.get(0))
        .optional()?;
    let order = match doc {
        Some(id) => super::sales::read_doc(tx, "order", id, &SalesScope::All, when.date_naive())?,
        None => None,
    };
    if let Some(reason) = held(tx, &fact.lot)? {
        problems.push(format!(
            "lot {} is on quality hold at central ({reason}), and was shipped",
            fact.lot
        ));
    }
    let Some(order) = order else {
        problems.push(format!(
            "central has no sales order {}; the stock was booked out, no delivery made",
            fact.order
        ));
        record_exceptions(tx, edge_id, seq, at, fact, None, &problems)?;
        return Ok(false);
    };
    if order.status != "confirmed" {
        problems.push(format!(
            "sales order {} is {}, not confirmed, and was shipped",
            order.number, order.status
        ));
    }
    let line = order.lines.iter().find(|l| l.line == fact.line);
    match line {
        None => problems.push(format!(
            "sales order {} has no line {}",
            order.number, fact.line
        )),
        Some(l) if l.item != fact.item => problems.push(format!(
            "line {} of {} is {}, but {} was shipped on it",
            l.line, order.number, l.item, fact.item
        )),
        Some(l) if l.uom != fact.uom => problems.push(format!(
            "line {} of {} counts in {}, the shipment in {}",
            l.line, order.number, l.uom, fact.uom
        )),
        Some(_) => {}
    }
    let (delivery, number) = shipment_delivery(tx, edge_id, fact, &order, when)?;
    let seq_in: u32 = tx
        .prepare_cached(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM crm_delivery_lines WHERE delivery = ?1",
        )?
        .query_row(params![delivery], |r| r.get(0))?;
    tx.prepare_cached(
        "INSERT INTO crm_delivery_lines (delivery, seq, line, item, description, qty, uom, lot, location)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        delivery,
        seq_in,
        fact.line,
        fact.item,
        line.map(|l| l.description.clone()).unwrap_or_default(),
        text(fact.qty),
        fact.uom,
        fact.lot,
        fact.location
    ])?;
    let mut completed = order.status == "confirmed";
    for l in &order.lines {
        let mut shipped = l.shipped_qty;
        if l.line == fact.line && l.item == fact.item && l.uom == fact.uom {
            match l.shipped_qty.checked_add(fact.qty) {
                Some(total) => {
                    if total > l.qty {
                        problems.push(format!(
                            "line {} of {}: {} {} ordered, {} shipped before, {} more shipped now",
                            l.line,
                            order.number,
                            l.qty.normalize(),
                            l.uom,
                            l.shipped_qty.normalize(),
                            fact.qty.normalize()
                        ));
                    }
                    shipped = total;
                    tx.prepare_cached(
                        "UPDATE crm_sales_lines SET shipped_qty = ?3 WHERE doc = ?1 AND line = ?2",
                    )?
                    .execute(params![order.id, l.line, text(total)])?;
                }
                None => problems.push(format!(
                    "line {} of {}: the shipped quantity cannot grow beyond {}",
                    l.line,
                    order.number,
                    l.shipped_qty.normalize()
                )),
            }
        }
        if shipped < l.qty {
            completed = false;
        }
    }
    let by = format!("edge:{edge_id}");
    super::sales::history(
        tx,
        order.id,
        &by,
        "shipped",
        json!({
            "delivery": number,
            "lines": [{"line": fact.line, "qty": text(fact.qty)}],
            "lot": fact.lot,
            "location": fact.location,
            "edge": edge_id,
            "seq": seq,
            "shipment": fact.shipment,
        }),
        when,
    )?;
    if !problems.is_empty() {
        let warnings: String = tx
            .prepare_cached("SELECT warnings FROM crm_deliveries WHERE id = ?1")?
            .query_row(params![delivery], |r| r.get(0))?;
        let mut warnings: Vec<String> = from_json(&warnings)?;
        warnings.extend(problems.iter().cloned());
        tx.prepare_cached("UPDATE crm_deliveries SET warnings = ?2 WHERE id = ?1")?
            .execute(params![delivery, json(&warnings)?])?;
        super::sales::history(
            tx,
            order.id,
            &by,
            "shipment_exception",
            json!({"delivery": number, "edge": edge_id, "seq": seq, "problems": problems}),
            when,
        )?;
        record_exceptions(tx, edge_id, seq, at, fact, Some(&number), &problems)?;
    }
    if completed {
        tx.prepare_cached(
            "UPDATE crm_sales_docs SET status = 'completed', updated_at = ?2 WHERE id = ?1",
        )?
        .execute(params![order.id, ts(when)])?;
        super::sales::history(
            tx,
            order.id,
            &by,
            "completed",
            json!({"delivery": number, "reason": "every line shipped"}),
            when,
        )?;
    }
    Ok(true)
}

fn record_exceptions(
    tx: &Connection,
    edge_id: &str,
    seq: i64,
    at: &str,
    fact: &ShippedFact,
    delivery: Option<&str>,
    problems: &[String],
) -> Result<(), StoreError> {
    for problem in problems {
        tracing::warn!(
            edge_id,
            seq,
            order = fact.order.as_str(),
            problem = problem.as_str(),
            "a shipment central disagrees with"
        );
        tx.prepare_cached(
            "INSERT INTO crm_shipment_exceptions (edge_id, seq, at, order_number, line, lot, qty,
                 delivery, problem)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            edge_id,
            seq,
            at,
            fact.order,
            fact.line,
            fact.lot,
            text(fact.qty),
            delivery,
            problem
        ])?;
    }
    Ok(())
}

/// The lots a recall walk visited (the lot first), each lot's parent on the way down, and
/// whether the walk stopped at a bound.
type Walk = (Vec<String>, HashMap<String, String>, bool);

/// Lots made from `lot`, down the genealogy: lots whose production named it as consumed, and
/// lots produced by work orders it was issued to. Bounded by depth and count.
fn descendants(conn: &Connection, lot: &str) -> Result<Walk, StoreError> {
    let mut order = vec![lot.to_owned()];
    let mut parent: HashMap<String, String> = HashMap::new();
    let mut queue = VecDeque::from([(lot.to_owned(), 0usize)]);
    let mut truncated = false;
    let mut stmt = conn.prepare_cached(
        "SELECT produced_lot FROM gen_consumed WHERE consumed_lot = ?1
         UNION SELECT p.lot FROM gen_issued i JOIN gen_produced p ON p.work_order = i.work_order
         WHERE i.lot = ?1",
    )?;
    while let Some((current, depth)) = queue.pop_front() {
        let children: Vec<String> = stmt
            .query_map(params![current], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for child in children {
            if child == lot || parent.contains_key(&child) {
                continue;
            }
            if depth + 1 > MAX_RECALL_DEPTH || order.len() >= MAX_RECALL_LOTS {
                truncated = true;
                continue;
            }
            parent.insert(child.clone(), current.clone());
            order.push(child.clone());
            queue.push_back((child, depth + 1));
        }
    }
    Ok((order, parent, truncated))
}

fn recall(conn: &Connection, lot: String) -> Result<RecallList, StoreError> {
    let (lots, parent, truncated) = descendants(conn, &lot)?;
    let mut deliveries = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT d.customer, d.customer_name, d.doc, d.order_number, d.customer_po, d.id, d.number,
             d.delivery_date, l.item, l.qty, l.uom
         FROM crm_delivery_lines l JOIN crm_deliveries d ON d.id = l.delivery
         WHERE l.lot = ?1 ORDER BY d.id, l.seq",
    )?;
    for shipped in &lots {
        let rows = stmt.query_map(params![shipped], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, String>(10)?,
            ))
        })?;
        for row in rows {
            let (
                customer,
                customer_name,
                order,
                order_number,
                customer_po,
                delivery,
                number,
                day,
                item,
                qty,
                uom,
            ) = row?;
            let mut path = vec![shipped.clone()];
            while let Some(up) = parent.get(path.last().map(String::as_str).unwrap_or_default()) {
                path.push(up.clone());
            }
            path.reverse();
            deliveries.push(RecallRow {
                customer,
                customer_name,
                order,
                order_number,
                customer_po,
                delivery,
                delivery_number: number,
                date: NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                    .map_err(|e| StoreError::Corrupt(format!("delivery date {day:?}: {e}")))?,
                item,
                lot: shipped.clone(),
                qty: decimal(&qty)?,
                uom,
                path,
            });
        }
    }
    deliveries.sort_by_key(|a| (a.date, a.delivery));
    Ok(RecallList {
        lot,
        lots,
        deliveries,
        truncated,
    })
}

#[async_trait]
impl DeliveryStore for SqlStore {
    async fn create_delivery(
        &self,
        order: i64,
        input: DeliveryInput,
        gs1_company_prefix: String,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> SalesResult<Delivery> {
        self.write(move |conn| create(conn, order, input, gs1_company_prefix, by, scope, now))
            .await
    }

    async fn deliveries(
        &self,
        query: DeliveryQuery,
        scope: SalesScope,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = Vec::new();
            let mut filter = scoped(&scope, "d.owner", &mut params);
            if let Some(order) = query.order {
                filter.push_str(&format!(" AND d.doc = {}", bind(&mut params, order)));
            }
            if let Some(customer) = query.customer {
                filter.push_str(&format!(
                    " AND d.customer = {}",
                    bind(&mut params, customer)
                ));
            }
            let limit = bind(&mut params, i64::try_from(query.limit).unwrap_or(500));
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM crm_deliveries d WHERE 1 = 1{filter}
                 ORDER BY d.id DESC LIMIT {limit}"
            );
            let mut out = Vec::new();
            {
                let mut stmt = conn.prepare(&sql)?;
                let rows = stmt.query_map(params_from_iter(params), |r| Ok(delivery_row(r)))?;
                for row in rows {
                    out.push(row??);
                }
            }
            for d in &mut out {
                with_parts(conn, d)?;
            }
            Ok(out)
        })
        .await
    }

    async fn delivery(&self, id: i64, scope: SalesScope) -> Result<Option<Delivery>, StoreError> {
        self.read(move |conn| read_delivery(conn, id, &scope)).await
    }

    async fn lot_customers(&self, lot: String) -> Result<RecallList, StoreError> {
        self.read(move |conn| recall(conn, lot)).await
    }

    async fn configure_shipping(
        &self,
        edges: Vec<String>,
        gs1_company_prefix: Option<String>,
    ) -> Result<Vec<protocol::Plan>, StoreError> {
        self.write_cache(move |conn| configure(conn, edges, gs1_company_prefix))
            .await
    }

    async fn shipment_exceptions(
        &self,
        limit: usize,
    ) -> Result<Vec<ShipmentException>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, edge_id, seq, at, order_number, line, lot, qty, delivery, problem
                 FROM crm_shipment_exceptions ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![i64::try_from(limit).unwrap_or(500)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, u32>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, String>(9)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, edge_id, seq, at, order, line, lot, qty, delivery, problem) = row?;
                out.push(ShipmentException {
                    id,
                    edge_id,
                    seq: u64::try_from(seq).unwrap_or_default(),
                    at: parse_ts(&at)?,
                    order,
                    line,
                    lot,
                    qty: decimal(&qty)?,
                    delivery,
                    problem,
                });
            }
            Ok(out)
        })
        .await
    }
}

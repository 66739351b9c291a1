//! [`PurchasingStore`] on both engines: `purchase_orders` (one row an order, numbered
//! `PO000001` from `crm_counters`) and `purchase_receipts` (an edge's `material_received`
//! booked against an order, keyed by the event's `(edge, seq)`, so a batch applied twice books
//! nothing twice).
//!
//! An order is made from a requisition's values ([`order_from_values`]) by the one path both
//! ways share: asked for a planned order with no approval in use, or carried out when its
//! `purchase_requisition` request is approved ([`super::oa::gate::carry_out`]).

use super::crm::{date, decimal};
use super::db::{Connection, OptionalExtension, params, params_from_iter};
use super::oa::gate::{self, Gate};
use super::{SqlStore, StoreError, parse_ts, ts};
use crate::store::purchasing::{
    Bought, BuyRefusal, MAX_ORDERS, PoQuery, PoReceipt, PoState, PurchaseOrder, PurchasingStore,
    SUPPLIER_CURRENCY,
};
use async_trait::async_trait;
use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS purchase_orders (
    number        TEXT PRIMARY KEY,
    supplier      TEXT NOT NULL,
    item          TEXT NOT NULL,
    qty           TEXT NOT NULL,
    uom           TEXT NOT NULL,
    price         TEXT NOT NULL,
    amount        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    plant         TEXT,
    ordered_on    TEXT NOT NULL,
    due           TEXT NOT NULL,
    need_date     TEXT NOT NULL,
    state         TEXT NOT NULL,
    received      TEXT NOT NULL,
    request       TEXT,
    planned_order TEXT UNIQUE,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS purchase_orders_open ON purchase_orders (item, state, due);
CREATE TABLE IF NOT EXISTS purchase_receipts (
    edge_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    number  TEXT NOT NULL,
    lot     TEXT NOT NULL,
    qty     TEXT NOT NULL,
    uom     TEXT NOT NULL,
    counted TEXT,
    at      TEXT NOT NULL,
    PRIMARY KEY (edge_id, seq)
);
CREATE INDEX IF NOT EXISTS purchase_receipts_number ON purchase_receipts (number);
";

const COLUMNS: &str = "o.number, o.supplier, COALESCE(s.name, o.supplier), o.item, o.qty, o.uom,
    o.price, o.amount, o.currency, o.plant, o.ordered_on, o.due, o.need_date, o.state,
    o.received, o.request, o.planned_order, o.created_by, o.created_at";

const FROM: &str = "FROM purchase_orders o LEFT JOIN erp_suppliers s ON s.supplier = o.supplier";

fn read_order(r: &super::db::Row<'_>) -> Result<PurchaseOrder, StoreError> {
    let state: String = r.get(13)?;
    let due = date(&r.get::<_, String>(11)?)?;
    let need_date = date(&r.get::<_, String>(12)?)?;
    Ok(PurchaseOrder {
        number: r.get(0)?,
        supplier: r.get(1)?,
        supplier_name: r.get(2)?,
        item: r.get(3)?,
        qty: decimal(&r.get::<_, String>(4)?)?,
        uom: r.get(5)?,
        price: decimal(&r.get::<_, String>(6)?)?,
        amount: decimal(&r.get::<_, String>(7)?)?,
        currency: r.get(8)?,
        plant: r.get(9)?,
        ordered_on: date(&r.get::<_, String>(10)?)?,
        due,
        need_date,
        late: due > need_date,
        state: PoState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("purchase order state {state:?}")))?,
        received: decimal(&r.get::<_, String>(14)?)?,
        request: r.get(15)?,
        planned_order: r.get(16)?,
        created_by: r.get(17)?,
        created_at: parse_ts(&r.get::<_, String>(18)?)?,
        receipts: Vec::new(),
    })
}

fn order_by_number(conn: &Connection, number: &str) -> Result<Option<PurchaseOrder>, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} {FROM} WHERE o.number = ?1"))?
        .query_map(params![number], |r| Ok(read_order(r)))?
        .next()
        .transpose()?
        .transpose()
}

fn order_of_planned(conn: &Connection, planned: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT number FROM purchase_orders WHERE planned_order = ?1")?
        .query_row(params![planned], |r| r.get(0))
        .optional()?)
}

/// The supplier an item is bought from: `named` if it supplies the item, else the preferred
/// one, else the cheapest; with its price and lead time.
fn supplier_of(
    conn: &Connection,
    item: &str,
    named: Option<&str>,
) -> Result<Result<(String, Decimal, u32), String>, StoreError> {
    let mut terms: Vec<(String, Decimal, u32, bool)> =
        super::erp::read_terms(conn, None, Some(item))?
            .into_iter()
            .map(|t| (t.supplier, t.price, t.lead_time_days, t.preferred))
            .collect();
    if let Some(named) = named {
        return Ok(terms
            .into_iter()
            .find(|t| t.0 == named)
            .map(|(s, p, l, _)| (s, p, l))
            .ok_or_else(|| format!("supplier {named} has no terms for item {item}")));
    }
    let preferred = terms.iter().position(|t| t.3);
    let chosen = match preferred {
        Some(i) => Some(terms.swap_remove(i)),
        None => terms.into_iter().min_by(|a, b| a.1.cmp(&b.1)),
    };
    Ok(chosen.map(|(s, p, l, _)| (s, p, l)).ok_or_else(|| {
        format!("item {item} has no supplier; import its terms with post /api/v1/import/suppliers")
    }))
}

fn next_po_number(conn: &Connection) -> Result<String, StoreError> {
    super::crm::next_free(
        conn,
        "purchase_order",
        "SELECT 1 FROM purchase_orders WHERE number = ?1",
        |n| format!("PO{n:06}"),
    )?
    .ok_or_else(|| StoreError::Conflict("no free purchase order number in 1000 tries".into()))
}

/// Makes the order a requisition's `values` ask for (`item`, `qty`, `need_date`, and
/// optionally `plant`, `supplier`, `planned_order`), requested by `by` through `request`;
/// the order's number, or why it cannot be made. An order already made for the planned order
/// is answered as it is.
pub(super) fn order_from_values(
    conn: &Connection,
    values: &Map<String, Value>,
    request: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Result<String, String>, StoreError> {
    let text = |k: &str| values.get(k).and_then(Value::as_str).map(str::trim);
    let planned = text("planned_order").filter(|s| !s.is_empty());
    if let Some(planned) = planned
        && let Some(number) = order_of_planned(conn, planned)?
    {
        return Ok(Ok(number));
    }
    let Some(item) = text("item") else {
        return Ok(Err("the requisition names no item".into()));
    };
    let Some(qty) = text("qty").and_then(|q| q.parse::<Decimal>().ok()) else {
        return Ok(Err("the requisition has no quantity".into()));
    };
    if qty <= Decimal::ZERO {
        return Ok(Err(format!("the quantity {qty} is not above 0")));
    }
    let Some(need_date) = text("need_date").and_then(|d| d.parse::<NaiveDate>().ok()) else {
        return Ok(Err("the requisition has no date it is needed by".into()));
    };
    let uom = super::work_orders::item_uom(conn, item)?;
    let Some(uom) = uom else {
        return Ok(Err(format!("item {item} is not in the item master")));
    };
    let (supplier, price, lead) = match supplier_of(conn, item, text("supplier"))? {
        Ok(t) => t,
        Err(why) => return Ok(Err(why)),
    };
    let Some(amount) = qty.checked_mul(price) else {
        return Ok(Err(format!("{qty} × {price} is too large an amount")));
    };
    let today = now.date_naive();
    let Some(due) = today.checked_add_days(Days::new(u64::from(lead))) else {
        return Ok(Err(format!("a lead time of {lead} days is too long")));
    };
    let number = next_po_number(conn)?;
    conn.prepare_cached(
        "INSERT INTO purchase_orders (number, supplier, item, qty, uom, price, amount, currency,
             plant, ordered_on, due, need_date, state, received, request, planned_order,
             created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'open', '0', ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        number,
        supplier,
        item,
        qty.normalize().to_string(),
        uom,
        price.normalize().to_string(),
        format!("{:.2}", amount.round_dp(2)),
        SUPPLIER_CURRENCY,
        text("plant").filter(|p| !p.is_empty()),
        today.to_string(),
        due.to_string(),
        need_date.to_string(),
        request,
        planned,
        by,
        ts(now)
    ])?;
    Ok(Ok(number))
}

/// What a `material_received` event means for purchasing.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ReceivedFact {
    pub item: String,
    pub lot: String,
    pub qty: Decimal,
    pub uom: String,
    pub purchase_order: Option<String>,
}

impl ReceivedFact {
    pub(super) fn of(kind: &protocol::EventKind) -> Option<ReceivedFact> {
        let protocol::EventKind::MaterialReceived {
            item,
            lot,
            qty,
            uom,
            purchase_order,
            ..
        } = kind
        else {
            return None;
        };
        Some(ReceivedFact {
            item: item.0.clone(),
            lot: lot.0.clone(),
            qty: *qty,
            uom: uom.clone(),
            purchase_order: purchase_order.clone(),
        })
    }
}

/// Whether `item` has an open purchase order, by the batch's `cache` of such items (read on
/// its first receipt), so receipts of items nobody ordered cost ingest no statement.
pub(super) fn on_order(
    conn: &Connection,
    cache: &mut Option<std::collections::HashSet<String>>,
    item: &str,
) -> Result<bool, StoreError> {
    if cache.is_none() {
        let mut items = std::collections::HashSet::new();
        let mut stmt =
            conn.prepare_cached("SELECT DISTINCT item FROM purchase_orders WHERE state = 'open'")?;
        for item in stmt.query_map([], |r| r.get::<_, String>(0))? {
            items.insert(item?);
        }
        *cache = Some(items);
    }
    Ok(cache.as_ref().is_some_and(|items| items.contains(item)))
}

/// Books goods an edge of `plant` received against the order the label names, or else the
/// item's open order due first (of the plant, or of no plant). Nothing when no order is open:
/// goods also arrive without one. An order received in full is closed.
pub(super) fn book_receipt(
    conn: &Connection,
    edge_id: &str,
    plant: &str,
    seq: i64,
    at: &str,
    fact: &ReceivedFact,
) -> Result<(), StoreError> {
    let named = match &fact.purchase_order {
        Some(po) => conn
            .prepare_cached(
                "SELECT number FROM purchase_orders
                 WHERE number = ?1 AND item = ?2 AND state = 'open'",
            )?
            .query_row(params![po, fact.item], |r| r.get::<_, String>(0))
            .optional()?,
        None => None,
    };
    let number = match named {
        Some(n) => Some(n),
        None => conn
            .prepare_cached(
                "SELECT number FROM purchase_orders
                 WHERE item = ?1 AND state = 'open' AND (plant IS NULL OR plant = ?2)
                 ORDER BY due, number LIMIT 1",
            )?
            .query_row(params![fact.item, plant], |r| r.get::<_, String>(0))
            .optional()?,
    };
    let Some(number) = number else {
        return Ok(());
    };
    let (qty, received, uom): (String, String, String) = conn
        .prepare_cached("SELECT qty, received, uom FROM purchase_orders WHERE number = ?1")?
        .query_row(params![number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let counted = base_qty(conn, &fact.item, &uom, &fact.uom, fact.qty)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO purchase_receipts (edge_id, seq, number, lot, qty, uom, counted, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (edge_id, seq) DO NOTHING",
        )?
        .execute(params![
            edge_id,
            seq,
            number,
            fact.lot,
            fact.qty.normalize().to_string(),
            fact.uom,
            counted.map(|c| c.normalize().to_string()),
            at
        ])?;
    let Some(counted) = counted.filter(|_| inserted == 1) else {
        return Ok(());
    };
    // A committed fact never stops ingest: a total beyond any decimal is left as it was.
    let Some(total) = decimal(&received)?.checked_add(counted) else {
        tracing::warn!(%number, "a purchase order's received quantity would overflow; receipt not counted");
        return Ok(());
    };
    let state = if total >= decimal(&qty)? {
        PoState::Received
    } else {
        PoState::Open
    };
    conn.prepare_cached("UPDATE purchase_orders SET received = ?2, state = ?3 WHERE number = ?1")?
        .execute(params![
            number,
            total.normalize().to_string(),
            state.as_str()
        ])?;
    Ok(())
}

/// `qty` in `uom` as the item's base unit `base`; `None` when no conversion links them.
fn base_qty(
    conn: &Connection,
    item: &str,
    base: &str,
    uom: &str,
    qty: Decimal,
) -> Result<Option<Decimal>, StoreError> {
    if uom == base {
        return Ok(Some(qty));
    }
    let conversions = super::erp::item_conversions(conn, item)?;
    Ok(crate::erp::uom::to_base(item, &conversions, base, uom, qty).ok())
}

fn receipts(conn: &Connection, number: &str) -> Result<Vec<PoReceipt>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT edge_id, seq, lot, qty, uom, counted, at FROM purchase_receipts
         WHERE number = ?1 ORDER BY at, edge_id, seq",
    )?;
    let rows = stmt.query_map(params![number], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (edge, seq, lot, qty, uom, counted, at) = row?;
        out.push(PoReceipt {
            edge,
            seq: super::to_u64(seq),
            lot,
            qty: decimal(&qty)?,
            uom,
            counted: counted.as_deref().map(decimal).transpose()?,
            at: parse_ts(&at)?,
        });
    }
    Ok(out)
}

#[async_trait]
impl PurchasingStore for SqlStore {
    async fn buy_requisition(
        &self,
        run: u64,
        planned_order: String,
        by: String,
        now: DateTime<Utc>,
    ) -> Result<Result<Bought, BuyRefusal>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(super::db::TransactionBehavior::Immediate)?;
            let Some(as_of) = super::mrp::run_as_of(&tx, run)? else {
                return Ok(Err(BuyRefusal::NotFound(format!("no MRP run {run}"))));
            };
            let Some(po) = super::mrp::read_planned(&tx, run, as_of)?
                .into_iter()
                .find(|p| p.reference == planned_order)
            else {
                return Ok(Err(BuyRefusal::NotFound(format!(
                    "run {run} has no planned order {planned_order}"
                ))));
            };
            if po.kind != crate::erp::mrp::ItemKind::Buy {
                return Ok(Err(BuyRefusal::Refused {
                    code: "not_a_requisition",
                    message: format!(
                        "planned order {planned_order} makes {}; firm it into a work order instead",
                        po.item
                    ),
                }));
            }
            let subject = format!("{run}/{planned_order}");
            if let Some(number) = order_of_planned(&tx, &subject)? {
                let order = order_by_number(&tx, &number)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("purchase order {number} just read is gone"))
                })?;
                tx.finish()?;
                return Ok(Ok(Bought::Ordered {
                    purchase_order: Box::new(order),
                    created: false,
                }));
            }
            let (supplier, price, _) = match supplier_of(&tx, &po.item, po.supplier.as_deref())? {
                Ok(t) => t,
                Err(why) => {
                    return Ok(Err(BuyRefusal::Refused {
                        code: "no_supplier",
                        message: why,
                    }));
                }
            };
            let amount = po
                .qty
                .checked_mul(price)
                .map(|a| a.round_dp(2))
                .ok_or_else(|| {
                    StoreError::Conflict(format!(
                        "the amount of planned order {planned_order} overflows"
                    ))
                })?;
            let mut values = Map::new();
            values.insert("item".into(), json!(po.item));
            values.insert("qty".into(), json!(po.qty.normalize().to_string()));
            values.insert("need_date".into(), json!(po.due.to_string()));
            values.insert(
                "amount".into(),
                json!({"amount": amount.to_string(), "currency": SUPPLIER_CURRENCY}),
            );
            values.insert("supplier".into(), json!(supplier));
            values.insert("planned_order".into(), json!(subject));
            let request = match gate::gate(
                &tx,
                "purchase_requisition",
                &subject,
                values.clone(),
                &by,
                now,
                |_| true,
            )? {
                Gate::Waiting { number, .. } => {
                    tx.commit()?;
                    return Ok(Ok(Bought::AwaitingApproval { request: number }));
                }
                Gate::Refused(why) => {
                    return Ok(Err(BuyRefusal::Refused {
                        code: "approval_refused",
                        message: why,
                    }));
                }
                Gate::Pass(number) => number,
                Gate::NoWorkflow => None,
            };
            // Nobody had to approve, a rule did (the request's number), or approvals are not
            // in use for requisitions: order now.
            let number = match order_from_values(&tx, &values, request.as_deref(), &by, now)? {
                Ok(n) => n,
                Err(why) => {
                    return Ok(Err(BuyRefusal::Refused {
                        code: "not_orderable",
                        message: why,
                    }));
                }
            };
            let order = order_by_number(&tx, &number)?.ok_or_else(|| {
                StoreError::Corrupt(format!("purchase order {number} just written is gone"))
            })?;
            tx.commit()?;
            Ok(Ok(Bought::Ordered {
                purchase_order: Box::new(order),
                created: true,
            }))
        })
        .await
    }

    async fn purchase_orders(&self, query: PoQuery) -> Result<Vec<PurchaseOrder>, StoreError> {
        self.read(move |conn| {
            let mut sql = format!("SELECT {COLUMNS} {FROM} WHERE 1 = 1");
            let mut args: Vec<String> = Vec::new();
            let mut filter = |column: &str, value: Option<String>| {
                if let Some(v) = value {
                    args.push(v);
                    sql.push_str(&format!(" AND {column} = ?{}", args.len()));
                }
            };
            filter("o.state", query.state.map(|s| s.as_str().to_owned()));
            filter("o.supplier", query.supplier);
            filter("o.item", query.item);
            let limit = query.limit.clamp(1, MAX_ORDERS);
            sql.push_str(&format!(
                " ORDER BY o.created_at DESC, o.number DESC LIMIT {limit}"
            ));
            let mut stmt = conn.prepare(&sql)?;
            let mut out = Vec::new();
            for row in stmt.query_map(params_from_iter(args.iter()), |r| Ok(read_order(r)))? {
                out.push(row??);
            }
            Ok(out)
        })
        .await
    }

    async fn purchase_order(&self, number: String) -> Result<Option<PurchaseOrder>, StoreError> {
        self.read(move |conn| {
            let Some(mut order) = order_by_number(conn, &number)? else {
                return Ok(None);
            };
            order.receipts = receipts(conn, &number)?;
            Ok(Some(order))
        })
        .await
    }
}

//! [`SalesStore`] on both engines: quotations and sales orders in one table of documents
//! (`crm_sales_docs`, `kind` telling them apart), their lines, the flags ERP's changes raise
//! on them, and their history. Decimals are text, dates `YYYY-MM-DD`; new tables made on open.
//!
//! Three functions other parts call inside their own transactions:
//! - [`flag_price_changes`]: from every write of price rows (`prices_changed_in`);
//! - [`flag_item_changed`]: from a BOM revision coming into effect, and from an item made
//!   obsolete (and [`resolve_item_flags`] when it is back in sale);
//! - [`sales_demands`]: MRP's and the promise's demand of confirmed orders.

use super::crm::{Params, bind, decimal, from_json, json, like, read_customer, scoped};
use super::db::{
    Connection, OptionalExtension, TransactionBehavior, Value, params, params_from_iter,
};
use super::oa::gate::Gate;
use super::{SqlStore, StoreError, parse_ts, ts};
use crate::crm::pricing::{PriceKey, PriceQuery, PriceScope, StoredPrice, resolve};
use crate::crm::promise::{self, Limit, OrderLine, PlantInput};
use crate::crm::sales::{
    OrderStatus, QuoteStatus, Totals, check_line, credit_check, line_net, totals, valid_until,
};
use crate::crm::scope::SalesScope;
use crate::erp::calendar::Calendar;
use crate::erp::mrp::Dated;
use crate::store::sales::{
    Cockpit, Flag, HistoryEntry, LineInput, MAX_LIST, OrderAction, OrderInput, PeggedOrder,
    QuotationInput, QuoteAction, SalesDoc, SalesDocSummary, SalesLine, SalesQuery, SalesRefusal,
    SalesResult, SalesStore, Share,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS crm_sales_docs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    number       TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    replaces     INTEGER,
    replaced_by  INTEGER,
    customer     TEXT NOT NULL,
    contact      INTEGER,
    owner        TEXT NOT NULL,
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL,
    doc_date     TEXT NOT NULL,
    valid_until  TEXT,
    quotation    INTEGER,
    customer_po  TEXT NOT NULL,
    tax_code     TEXT,
    tax_pct      TEXT NOT NULL,
    net          TEXT NOT NULL,
    tax          TEXT NOT NULL,
    gross        TEXT NOT NULL,
    note         TEXT NOT NULL,
    search       TEXT NOT NULL,
    token        TEXT,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    sent_at      TEXT,
    confirmed_at TEXT,
    confirmed_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS crm_sales_docs_number ON crm_sales_docs (kind, number, revision);
CREATE INDEX IF NOT EXISTS crm_sales_docs_owner ON crm_sales_docs (kind, owner, id);
CREATE INDEX IF NOT EXISTS crm_sales_docs_kind ON crm_sales_docs (kind, id);
CREATE INDEX IF NOT EXISTS crm_sales_docs_customer ON crm_sales_docs (customer, id);
CREATE UNIQUE INDEX IF NOT EXISTS crm_sales_docs_token ON crm_sales_docs (token);
CREATE TABLE IF NOT EXISTS crm_sales_lines (
    doc            INTEGER NOT NULL,
    line           INTEGER NOT NULL,
    item           TEXT NOT NULL,
    description    TEXT NOT NULL,
    qty            TEXT NOT NULL,
    uom            TEXT NOT NULL,
    list_price     TEXT,
    price_source   TEXT NOT NULL,
    unit_price     TEXT NOT NULL,
    discount_pct   TEXT NOT NULL,
    net            TEXT NOT NULL,
    requested_date TEXT,
    ordered_qty    TEXT NOT NULL,
    quotation_line INTEGER,
    confirmed_date TEXT,
    promise_limit  TEXT,
    promise        TEXT,
    shipped_qty    TEXT NOT NULL,
    PRIMARY KEY (doc, line)
);
CREATE INDEX IF NOT EXISTS crm_sales_lines_item ON crm_sales_lines (item, doc);
CREATE TABLE IF NOT EXISTS crm_sales_flags (
    id          INTEGER PRIMARY KEY,
    doc         INTEGER NOT NULL,
    line        INTEGER NOT NULL,
    item        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    old_price   TEXT,
    new_price   TEXT,
    detail      TEXT NOT NULL,
    flagged_at  TEXT NOT NULL,
    resolved_at TEXT,
    resolved_by TEXT
);
CREATE INDEX IF NOT EXISTS crm_sales_flags_doc ON crm_sales_flags (doc, line);
CREATE TABLE IF NOT EXISTS crm_sales_history (
    id      INTEGER PRIMARY KEY,
    doc     INTEGER NOT NULL,
    at      TEXT NOT NULL,
    by_user TEXT NOT NULL,
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS crm_sales_history_doc ON crm_sales_history (doc, id);
";

/// Documents whose prices are still an offer: flagged when ERP changes them.
const OPEN: &str = "((d.kind = 'quotation' AND d.status IN ('draft', 'sent')) OR (d.kind = 'order' AND d.status = 'draft'))";

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn date(text: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| StoreError::Corrupt(format!("date {text:?}: {e}")))
}

fn opt_date(text: Option<String>) -> Result<Option<NaiveDate>, StoreError> {
    text.as_deref().map(date).transpose()
}

fn opt_decimal(text: Option<String>) -> Result<Option<Decimal>, StoreError> {
    text.as_deref().map(decimal).transpose()
}

fn opt_ts(text: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.as_deref().map(parse_ts).transpose()
}

fn text(d: Decimal) -> String {
    d.normalize().to_string()
}

fn not_found(what: String) -> SalesRefusal {
    SalesRefusal::NotFound(what)
}

// ---------------------------------------------------------------------------------------------
// Reading

const DOC_COLUMNS: &str = "d.id, d.kind, d.number, d.revision, d.replaces, d.replaced_by, d.customer,
    COALESCE(c.name_zh, ''), COALESCE(c.name_en, ''), d.contact, d.owner, d.currency, d.status,
    d.doc_date, d.valid_until, d.quotation, d.customer_po, d.tax_code, d.tax_pct, d.net, d.tax,
    d.gross, d.note, d.created_by, d.created_at, d.updated_at, d.sent_at, d.confirmed_at,
    d.confirmed_by, (SELECT q.number || '/' || q.revision FROM crm_sales_docs q WHERE q.id = d.quotation)";

pub(super) fn customer_name(zh: String, en: String) -> String {
    if zh.is_empty() { en } else { zh }
}

fn expired(kind: &str, status: &str, until: Option<NaiveDate>, today: NaiveDate) -> bool {
    kind == "quotation"
        && QuoteStatus::parse(status).is_some_and(QuoteStatus::is_open)
        && until.is_some_and(|u| crate::crm::sales::expired(u, today))
}

fn doc_row(r: &super::db::Row<'_>, today: NaiveDate) -> Result<SalesDoc, StoreError> {
    let kind: String = r.get(1)?;
    let status: String = r.get(12)?;
    let valid_until = opt_date(r.get(14)?)?;
    Ok(SalesDoc {
        id: r.get(0)?,
        expired: expired(&kind, &status, valid_until, today),
        kind,
        number: r.get(2)?,
        revision: r.get(3)?,
        replaces: r.get(4)?,
        replaced_by: r.get(5)?,
        customer: r.get(6)?,
        customer_name: customer_name(r.get(7)?, r.get(8)?),
        contact: r.get(9)?,
        owner: r.get(10)?,
        currency: r.get(11)?,
        status,
        date: date(&r.get::<_, String>(13)?)?,
        valid_until,
        quotation: r.get(15)?,
        customer_po: r.get(16)?,
        tax_code: r.get(17)?,
        tax_pct: decimal(&r.get::<_, String>(18)?)?,
        totals: Totals {
            net: decimal(&r.get::<_, String>(19)?)?,
            tax: decimal(&r.get::<_, String>(20)?)?,
            gross: decimal(&r.get::<_, String>(21)?)?,
        },
        note: r.get(22)?,
        created_by: r.get(23)?,
        created_at: parse_ts(&r.get::<_, String>(24)?)?,
        updated_at: parse_ts(&r.get::<_, String>(25)?)?,
        sent_at: opt_ts(r.get(26)?)?,
        confirmed_at: opt_ts(r.get(27)?)?,
        confirmed_by: r.get(28)?,
        quotation_number: r.get(29)?,
        lines: Vec::new(),
        flags: Vec::new(),
        history: Vec::new(),
    })
}

const LINE_COLUMNS: &str =
    "line, item, description, qty, uom, list_price, price_source, unit_price,
    discount_pct, net, requested_date, ordered_qty, quotation_line, confirmed_date, promise_limit,
    promise, shipped_qty";

fn line_row(r: &super::db::Row<'_>) -> Result<SalesLine, StoreError> {
    let limit: Option<String> = r.get(14)?;
    Ok(SalesLine {
        line: r.get(0)?,
        item: r.get(1)?,
        description: r.get(2)?,
        qty: decimal(&r.get::<_, String>(3)?)?,
        uom: r.get(4)?,
        list_price: opt_decimal(r.get(5)?)?,
        price_source: r.get(6)?,
        unit_price: decimal(&r.get::<_, String>(7)?)?,
        discount_pct: decimal(&r.get::<_, String>(8)?)?,
        net: decimal(&r.get::<_, String>(9)?)?,
        requested_date: opt_date(r.get(10)?)?,
        ordered_qty: decimal(&r.get::<_, String>(11)?)?,
        quotation_line: r.get(12)?,
        confirmed_date: opt_date(r.get(13)?)?,
        limit: limit.as_deref().map(from_json::<Limit>).transpose()?,
        promise: r.get(15)?,
        shipped_qty: decimal(&r.get::<_, String>(16)?)?,
        work_orders: Vec::new(),
        good: 0,
        scrap: 0,
        projected_date: None,
        late_risk: None,
    })
}

/// The work orders made for an order line: firmed from planned orders of its item that MRP
/// pegged to `SO000001/1` (in any run), with their output at the last operation.
fn pegged_orders(
    conn: &Connection,
    reference: &str,
    item: &str,
) -> Result<Vec<PeggedOrder>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT o.work_order, o.state, o.qty, o.due, COALESCE(l.good, 0), COALESCE(l.scrap, 0)
         FROM mrp_planned p
             JOIN mrp_firmed f ON f.run = p.run AND f.planned_order = p.reference
             JOIN wo_orders o ON o.work_order = f.work_order
             LEFT JOIN wo_operations l ON l.work_order = o.work_order AND l.operation =
                 (SELECT MAX(operation) FROM wo_operations m WHERE m.work_order = o.work_order)
         WHERE p.item = ?1 AND p.pegged_to LIKE ?2 AND o.state <> 'cancelled'
         ORDER BY o.work_order",
    )?;
    let rows = stmt.query_map(params![item, format!("%{}%", json(&reference)?)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (work_order, state, qty, due, good, scrap) = row?;
        Ok(PeggedOrder {
            work_order,
            state,
            qty: decimal(&qty)?,
            due: date(&due)?,
            good: u64::try_from(good).unwrap_or(0),
            scrap: u64::try_from(scrap).unwrap_or(0),
        })
    })
    .collect()
}

/// An order line's customer code, Chinese and English names, and confirmed date.
type SoldTo = (String, Option<String>, Option<String>, Option<String>);

/// How many planned orders up the pegging [`made_for`] follows from a work order to the
/// demands it serves (a component's planned order pegs to its parent's, and so on).
const MADE_FOR_DEPTH: usize = 8;

/// The customer order lines `work_order` is made for: the demands MRP pegged the planned
/// order it was firmed from to, followed up through parent planned orders of the same run to
/// the sales order lines (`SO000001/1`) they serve. Cancelled and completed orders are left
/// out; at most [`protocol::bounds::MAX_PLAN_LIST`] lines, by order and line.
pub(super) fn made_for(
    conn: &Connection,
    work_order: &str,
) -> Result<Vec<protocol::PlanMadeFor>, StoreError> {
    let firmed: Vec<(i64, String)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT p.run, p.pegged_to FROM mrp_firmed f
                 JOIN mrp_planned p ON p.run = f.run AND p.reference = f.planned_order
             WHERE f.work_order = ?1",
        )?;
        stmt.query_map(params![work_order], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let mut parent =
        conn.prepare_cached("SELECT pegged_to FROM mrp_planned WHERE run = ?1 AND reference = ?2")?;
    let mut line = conn.prepare_cached(
        "SELECT d.customer, c.name_zh, c.name_en, l.confirmed_date
         FROM crm_sales_docs d
             JOIN crm_sales_lines l ON l.doc = d.id
             LEFT JOIN crm_customers c ON c.code = d.customer
         WHERE d.kind = 'order' AND d.number = ?1 AND l.line = ?2
             AND d.status NOT IN ('cancelled', 'completed')",
    )?;
    let mut found: BTreeMap<(String, u32), protocol::PlanMadeFor> = BTreeMap::new();
    for (run, pegged) in firmed {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut level: Vec<String> = from_json(&pegged)?;
        for _ in 0..MADE_FOR_DEPTH {
            let mut next = Vec::new();
            for reference in level {
                if found.len() >= protocol::bounds::MAX_PLAN_LIST || !seen.insert(reference.clone())
                {
                    continue;
                }
                let sales_line = reference
                    .split_once('/')
                    .and_then(|(number, n)| Some((number, n.parse::<u32>().ok()?)));
                if let Some((number, n)) = sales_line {
                    let row: Option<SoldTo> = line
                        .query_row(params![number, n], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                        })
                        .optional()?;
                    if let Some((customer, zh, en, confirmed)) = row {
                        let customer_name =
                            match customer_name(zh.unwrap_or_default(), en.unwrap_or_default()) {
                                name if name.is_empty() => customer.clone(),
                                name => name,
                            };
                        found.insert(
                            (number.to_owned(), n),
                            protocol::PlanMadeFor {
                                order: reference.clone(),
                                customer,
                                customer_name,
                                confirmed: opt_date(confirmed)?,
                            },
                        );
                        continue;
                    }
                }
                // Not a sales order line: a parent's planned order, whose demands are ours.
                let up: Option<String> = parent
                    .query_row(params![run, reference], |r| r.get(0))
                    .optional()?;
                if let Some(up) = up {
                    next.extend(from_json::<Vec<String>>(&up)?);
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
    }
    Ok(found.into_values().collect())
}

/// A confirmed order's lines with their work orders' progress, projected date and late risk.
fn with_progress(
    conn: &Connection,
    doc: &mut SalesDoc,
    today: NaiveDate,
) -> Result<(), StoreError> {
    if doc.kind != "order" || doc.status != OrderStatus::Confirmed.as_str() {
        return Ok(());
    }
    for l in &mut doc.lines {
        l.work_orders = pegged_orders(conn, &format!("{}/{}", doc.number, l.line), &l.item)?;
        l.good = l
            .work_orders
            .iter()
            .map(|w| w.good)
            .fold(0, u64::saturating_add);
        l.scrap = l
            .work_orders
            .iter()
            .map(|w| w.scrap)
            .fold(0, u64::saturating_add);
        let open: Vec<&PeggedOrder> = l
            .work_orders
            .iter()
            .filter(|w| !matches!(w.state.as_str(), "completed" | "closed"))
            .collect();
        l.projected_date = open.iter().map(|w| w.due).max().or(l.confirmed_date);
        let shipped = l.shipped_qty >= l.qty;
        l.late_risk = match l.confirmed_date {
            _ if shipped => None,
            None => None,
            Some(confirmed) if today > confirmed => Some(format!(
                "past its confirmed date {confirmed} and not shipped"
            )),
            Some(confirmed) => {
                if let Some(held) = open.iter().find(|w| w.state == "on_hold") {
                    Some(format!("work order {} is on hold", held.work_order))
                } else {
                    open.iter()
                        .filter(|w| w.due > confirmed)
                        .max_by_key(|w| w.due)
                        .map(|w| {
                            format!(
                                "work order {} is due {}, after the confirmed date {confirmed}",
                                w.work_order, w.due
                            )
                        })
                }
            }
        };
    }
    Ok(())
}

fn read_lines(conn: &Connection, doc: i64) -> Result<Vec<SalesLine>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {LINE_COLUMNS} FROM crm_sales_lines WHERE doc = ?1 ORDER BY line"
    ))?;
    let rows = stmt.query_map(params![doc], |r| Ok(line_row(r)))?;
    rows.map(|r| r?).collect()
}

const FLAG_COLUMNS: &str = "f.id, d.kind, f.doc, d.number, d.revision, d.customer, d.owner, f.line,
    f.item, f.reason, f.old_price, f.new_price, f.detail, f.flagged_at, f.resolved_at, f.resolved_by";

fn flag_row(r: &super::db::Row<'_>) -> Result<Flag, StoreError> {
    let kind: String = r.get(1)?;
    let number: String = r.get(3)?;
    let revision: u32 = r.get(4)?;
    Ok(Flag {
        id: r.get(0)?,
        number: if kind == "quotation" {
            format!("{number}/{revision}")
        } else {
            number
        },
        kind,
        document: r.get(2)?,
        customer: r.get(5)?,
        owner: r.get(6)?,
        line: r.get(7)?,
        item: r.get(8)?,
        reason: r.get(9)?,
        old_price: opt_decimal(r.get(10)?)?,
        new_price: opt_decimal(r.get(11)?)?,
        detail: r.get(12)?,
        flagged_at: parse_ts(&r.get::<_, String>(13)?)?,
        resolved_at: opt_ts(r.get(14)?)?,
        resolved_by: r.get(15)?,
    })
}

fn read_flags(conn: &Connection, doc: i64) -> Result<Vec<Flag>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FLAG_COLUMNS} FROM crm_sales_flags f JOIN crm_sales_docs d ON d.id = f.doc
         WHERE f.doc = ?1 AND f.resolved_at IS NULL ORDER BY f.line, f.id"
    ))?;
    let rows = stmt.query_map(params![doc], |r| Ok(flag_row(r)))?;
    rows.map(|r| r?).collect()
}

fn read_history(conn: &Connection, doc: i64) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, by_user, action, detail FROM crm_sales_history WHERE doc = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![doc], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (at, by, action, detail) = row?;
        Ok(HistoryEntry {
            at: parse_ts(&at)?,
            by,
            action,
            detail: from_json(&detail)?,
        })
    })
    .collect()
}

/// The document `id` of `kind` when its owner is in `scope`, whole.
pub(super) fn read_doc(
    conn: &Connection,
    kind: &str,
    id: i64,
    scope: &SalesScope,
    today: NaiveDate,
) -> Result<Option<SalesDoc>, StoreError> {
    let mut params: Params = vec![Value::from(id), Value::from(kind.to_owned())];
    let filter = scoped(scope, "d.owner", &mut params);
    let sql = format!(
        "SELECT {DOC_COLUMNS} FROM crm_sales_docs d LEFT JOIN crm_customers c ON c.code = d.customer
         WHERE d.id = ?1 AND d.kind = ?2{filter}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query_map(params_from_iter(params), |r| Ok(doc_row(r, today)))?;
    let Some(row) = rows.next() else {
        return Ok(None);
    };
    let mut doc = row??;
    doc.lines = read_lines(conn, doc.id)?;
    with_progress(conn, &mut doc, today)?;
    doc.flags = read_flags(conn, doc.id)?;
    doc.history = read_history(conn, doc.id)?;
    Ok(Some(doc))
}

/// A document's status as stored now.
fn must_read_status(conn: &Connection, id: i64) -> Result<String, StoreError> {
    Ok(conn
        .prepare_cached("SELECT status FROM crm_sales_docs WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))?)
}

fn must_read(
    conn: &Connection,
    kind: &str,
    id: i64,
    today: NaiveDate,
) -> Result<SalesDoc, StoreError> {
    read_doc(conn, kind, id, &SalesScope::All, today)?
        .ok_or_else(|| StoreError::Corrupt(format!("{kind} {id} vanished")))
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Confirms the draft order `o`: the credit check (over the limit: the credit-limit override's
/// approval, when a workflow asks for one), promise dates, the order's status. A credit
/// refusal and a wait for approval write their history (and the request) before they answer.
fn confirm(
    tx: &Connection,
    o: &SalesDoc,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), SalesRefusal>, StoreError> {
    let id = o.id;
    let today = now.date_naive();
    let status = OrderStatus::parse(&o.status)
        .ok_or_else(|| StoreError::Corrupt(format!("order status {:?}", o.status)))?;
    if status != OrderStatus::Draft {
        return Ok(Err(SalesRefusal::Conflict(format!(
            "sales order {} is {}, not a draft",
            o.number, o.status
        ))));
    }
    let customer = terms_of_doc(tx, o)?;
    if customer.credit_limit.is_some() {
        let open = match open_orders_total(tx, &o.customer, &customer.currency, today)? {
            Ok(t) => t,
            Err(why) => {
                return Ok(Err(SalesRefusal::Conflict(format!(
                    "cannot check the credit limit: {why}"
                ))));
            }
        };
        let Some(this) = converted(tx, o.totals.gross, &o.currency, &customer.currency, today)?
        else {
            return Ok(Err(SalesRefusal::Conflict(format!(
                "cannot check the credit limit: no exchange rate from {} to {} on or before {today}",
                o.currency, customer.currency
            ))));
        };
        if let Err(refusal) = credit_check(customer.credit_limit, open, this) {
            match credit_override(tx, o, &customer.currency, &refusal, by, now)? {
                Some(Gate::Pass(number)) => {
                    history(
                        tx,
                        id,
                        by,
                        "credit_override",
                        json!({"request": number, "over_by": refusal.over_by}),
                        now,
                    )?;
                }
                Some(Gate::Waiting { number, .. }) => {
                    history(
                        tx,
                        id,
                        by,
                        "credit_override_asked",
                        json!({"request": number, "over_by": refusal.over_by}),
                        now,
                    )?;
                    return Ok(Err(SalesRefusal::AwaitingApproval {
                        message: format!(
                            "{refusal}; credit-limit override {number} waits on its approvers, and the order is confirmed when it is approved"
                        ),
                        number,
                    }));
                }
                _ => {
                    history(tx, id, by, "credit_refused", json!(refusal), now)?;
                    return Ok(Err(SalesRefusal::Credit(refusal)));
                }
            }
        }
    }
    let promises = match promise_lines(tx, o, today)? {
        Ok(p) => p,
        Err(why) => {
            return Ok(Err(SalesRefusal::Conflict(format!(
                "no promise date can be given: {why}"
            ))));
        }
    };
    let mut dates = Vec::new();
    for (l, p) in o.lines.iter().zip(&promises) {
        tx.prepare_cached(
            "UPDATE crm_sales_lines SET confirmed_date = ?3, promise_limit = ?4, promise = ?5
             WHERE doc = ?1 AND line = ?2",
        )?
        .execute(params![
            id,
            l.line,
            day(p.promised),
            json(&p.limit)?,
            p.message
        ])?;
        dates.push(json!({"line": l.line, "promised": p.promised, "limit": p.limit.code()}));
    }
    let token = crate::auth::new_token();
    tx.prepare_cached(
        "UPDATE crm_sales_docs SET status = 'confirmed', confirmed_at = ?2, confirmed_by = ?3,
             token = ?4, updated_at = ?2 WHERE id = ?1",
    )?
    .execute(params![id, ts(now), by, token])?;
    // Its prices are fixed now: what flagged it no longer concerns it.
    resolve_flags(tx, id, by, now)?;
    history(tx, id, by, "confirmed", json!({"lines": dates}), now)?;
    Ok(Ok(()))
}

/// Over the credit limit: the `credit_override` approval, `None` when none can be asked (no
/// workflow, or the request cannot be made: the plain credit refusal then stands).
fn credit_override(
    tx: &Connection,
    o: &SalesDoc,
    currency: &str,
    refusal: &crate::crm::sales::CreditRefusal,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<Gate>, StoreError> {
    let over_by = refusal
        .over_by
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::AwayFromZero);
    let serde_json::Value::Object(values) = json!({
        "order": o.number,
        "customer": o.customer,
        "over_by": {"amount": over_by.to_string(), "currency": currency},
        "reason": refusal.to_string(),
    }) else {
        return Err(StoreError::Corrupt("the approval's values".into()));
    };
    let covers = |r: &crate::store::oa::OaRequest| {
        r.request
            .values
            .get("over_by")
            .and_then(|m| m.get("amount"))
            .and_then(serde_json::Value::as_str)
            .and_then(|v| v.parse::<rust_decimal::Decimal>().ok())
            .is_some_and(|approved| approved >= over_by)
    };
    Ok(
        match super::oa::gate::gate(tx, "credit_override", &o.number, values, by, now, covers)? {
            Gate::NoWorkflow | Gate::Refused(_) => None,
            g => Some(g),
        },
    )
}

/// An approved credit-limit override carried out: the order `number` confirmed as `by`.
pub(super) fn confirm_approved(
    tx: &Connection,
    number: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), String>, StoreError> {
    let id: Option<i64> = tx
        .prepare_cached("SELECT id FROM crm_sales_docs WHERE kind = 'order' AND number = ?1")?
        .query_row(params![number], |r| r.get(0))
        .optional()?;
    let o = match id {
        Some(id) => read_doc(tx, "order", id, &SalesScope::All, now.date_naive())?,
        None => None,
    };
    let Some(o) = o else {
        return Ok(Err(format!("no sales order {number}")));
    };
    Ok(confirm(tx, &o, by, now)?.map_err(|r| refusal_text(&r)))
}

/// An approved discount carried out: the quotation `reference` (`Q000001/2`) sent as `by`, if
/// its discount is still within what was approved.
pub(super) fn send_approved(
    tx: &Connection,
    reference: &str,
    approved_pct: Decimal,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), String>, StoreError> {
    let Some((number, revision)) = reference.split_once('/') else {
        return Ok(Err(format!(
            "{reference:?} is not a quotation and revision"
        )));
    };
    let revision: i64 = revision.parse().unwrap_or(-1);
    let id: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM crm_sales_docs WHERE kind = 'quotation' AND number = ?1 AND revision = ?2",
        )?
        .query_row(params![number, revision], |r| r.get(0))
        .optional()?;
    let q = match id {
        Some(id) => read_doc(tx, "quotation", id, &SalesScope::All, now.date_naive())?,
        None => None,
    };
    let Some(q) = q else {
        return Ok(Err(format!("no quotation {reference}")));
    };
    let most = max_discount(&q);
    if most > approved_pct {
        return Ok(Err(format!(
            "quotation {reference} now has a discount of {most} %, more than the {approved_pct} % approved"
        )));
    }
    Ok(send(tx, &q, by, now)?.map_err(|r| refusal_text(&r)))
}

fn refusal_text(r: &SalesRefusal) -> String {
    match r {
        SalesRefusal::NotFound(s) | SalesRefusal::Conflict(s) => s.clone(),
        SalesRefusal::Invalid(p) => p.join("; "),
        SalesRefusal::Credit(c) => c.to_string(),
        SalesRefusal::AwaitingApproval { message, .. } => message.clone(),
    }
}

/// The largest discount of a document's lines, in percent.
fn max_discount(doc: &SalesDoc) -> Decimal {
    doc.lines
        .iter()
        .map(|l| l.discount_pct)
        .max()
        .unwrap_or_default()
}

/// Sends the draft quotation `q`: a discount on any line first needs the approval the
/// `quotation_discount` workflow asks for (none when its conditions leave no step: a small
/// discount goes out at once).
fn send(
    tx: &Connection,
    q: &SalesDoc,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), SalesRefusal>, StoreError> {
    let conflict = |what: String| Ok(Err(SalesRefusal::Conflict(what)));
    if q.status != QuoteStatus::Draft.as_str() {
        return conflict(format!(
            "quotation {} is {}, not a draft",
            q.reference(),
            q.status
        ));
    }
    if q.expired {
        return conflict(format!(
            "quotation {} expired on {}; re-price it before sending",
            q.reference(),
            q.valid_until.map(day).unwrap_or_default()
        ));
    }
    let most = max_discount(q);
    if most > Decimal::ZERO {
        let serde_json::Value::Object(values) = json!({
            "quotation": q.reference(),
            "customer": q.customer,
            "discount_pct": most.normalize().to_string(),
            "amount": {"amount": q.totals.net.round_dp(2).to_string(), "currency": q.currency},
        }) else {
            return Err(StoreError::Corrupt("the approval's values".into()));
        };
        let covers = |r: &crate::store::oa::OaRequest| {
            r.request
                .values
                .get("discount_pct")
                .and_then(serde_json::Value::as_str)
                .and_then(|v| v.parse::<Decimal>().ok())
                .is_some_and(|approved| approved >= most)
        };
        let reference = q.reference();
        match super::oa::gate::gate(
            tx,
            "quotation_discount",
            &reference,
            values,
            by,
            now,
            covers,
        )? {
            Gate::Pass(request) => {
                if let Some(number) = request {
                    history(
                        tx,
                        q.id,
                        by,
                        "discount_approved",
                        json!({"request": number, "discount_pct": most}),
                        now,
                    )?;
                }
            }
            Gate::NoWorkflow => {}
            Gate::Waiting { number, .. } => {
                history(
                    tx,
                    q.id,
                    by,
                    "discount_approval_asked",
                    json!({"request": number, "discount_pct": most}),
                    now,
                )?;
                return Ok(Err(SalesRefusal::AwaitingApproval {
                    message: format!(
                        "a discount of {most} % needs approval: request {number} waits on its approvers, and the quotation is sent when it is approved"
                    ),
                    number,
                }));
            }
            Gate::Refused(why) => {
                return conflict(format!(
                    "a discount of {most} % needs approval, which cannot be asked: {why}"
                ));
            }
        }
    }
    tx.prepare_cached(
        "UPDATE crm_sales_docs SET status = 'sent', sent_at = ?2, updated_at = ?2 WHERE id = ?1",
    )?
    .execute(params![q.id, ts(now)])?;
    history(tx, q.id, by, "sent", json!({}), now)?;
    Ok(Ok(()))
}

pub(super) fn history(
    conn: &Connection,
    doc: i64,
    by: &str,
    action: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO crm_sales_history (doc, at, by_user, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![doc, ts(now), by, action, json(&detail)?])?;
    Ok(())
}

/// `Q000001` or `SO000001`: the next of the kind's counter.
fn next_number(conn: &Connection, kind: &str) -> Result<String, StoreError> {
    let prefix = if kind == "quotation" { "Q" } else { "SO" };
    let taken = format!("SELECT 1 FROM crm_sales_docs WHERE kind = '{kind}' AND number = ?1");
    super::crm::next_free(conn, kind, &taken, |n| format!("{prefix}{n:06}"))?
        .ok_or_else(|| StoreError::Conflict(format!("no free {kind} number in 1000 tries")))
}

/// What a customer brings to a document.
struct CustomerTerms {
    code: String,
    names: String,
    currency: String,
    group: Option<String>,
    credit_limit: Option<Decimal>,
}

fn customer_terms(
    conn: &Connection,
    code: &str,
    scope: &SalesScope,
) -> Result<Option<CustomerTerms>, StoreError> {
    Ok(read_customer(conn, code, scope)?.map(|c| CustomerTerms {
        names: format!("{} {}", c.name_zh, c.name_en),
        group: Some(c.customer_group).filter(|g| !g.is_empty()),
        currency: c.currency,
        credit_limit: c.credit_limit,
        code: c.code,
    }))
}

/// The rate of a tax code on a date.
fn tax_rate_on(
    conn: &Connection,
    code: &str,
    on: NaiveDate,
) -> Result<Option<Decimal>, StoreError> {
    let rate: Option<String> = conn
        .prepare_cached(
            "SELECT rate_pct FROM crm_tax_rates WHERE code = ?1 AND valid_from <= ?2
             ORDER BY valid_from DESC LIMIT 1",
        )?
        .query_row(params![code, day(on)], |r| r.get(0))
        .optional()?;
    rate.as_deref().map(decimal).transpose()
}

/// 1 `from` in `to` on a date.
fn exchange_rate_on(
    conn: &Connection,
    from: &str,
    to: &str,
    on: NaiveDate,
) -> Result<Option<Decimal>, StoreError> {
    let rate: Option<String> = conn
        .prepare_cached(
            "SELECT rate FROM crm_exchange_rates WHERE from_currency = ?1 AND to_currency = ?2
             AND valid_from <= ?3 ORDER BY valid_from DESC LIMIT 1",
        )?
        .query_row(params![from, to, day(on)], |r| r.get(0))
        .optional()?;
    rate.as_deref().map(decimal).transpose()
}

/// The price rows of an item in a currency, every scope.
fn price_rows(
    conn: &Connection,
    item: &str,
    currency: &str,
) -> Result<Vec<StoredPrice>, StoreError> {
    super::prices::rows_of_item(conn, item, currency)
}

/// What the price lists give a line: `(price, source)`, or why there is none.
fn list_price(
    rows: &[StoredPrice],
    item: &str,
    currency: &str,
    customer: &CustomerTerms,
    qty: Decimal,
    on: NaiveDate,
) -> Result<(Decimal, &'static str), String> {
    resolve(
        rows,
        &PriceQuery {
            item: item.to_owned(),
            currency: currency.to_owned(),
            customer: Some(customer.code.clone()),
            group: customer.group.clone(),
            qty,
            date: on,
        },
    )
    .map(|p| (p.price.unit_price, p.price.scope.kind()))
    .map_err(|e| e.to_string())
}

/// Lines as entered, priced and checked; every problem named by line.
fn price_lines(
    conn: &Connection,
    input: &[LineInput],
    currency: &str,
    customer: &CustomerTerms,
    on: NaiveDate,
) -> Result<Result<Vec<SalesLine>, Vec<String>>, StoreError> {
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    let mut rows: HashMap<String, Vec<StoredPrice>> = HashMap::new();
    for (i, l) in input.iter().enumerate() {
        let n = i + 1;
        let discount = l.discount_pct.unwrap_or(Decimal::ZERO);
        let found = check_line(n, l.qty, l.unit_price, discount);
        if !found.is_empty() {
            problems.extend(found);
            continue;
        }
        let item: Option<(String, String)> = conn
            .prepare_cached("SELECT description, uom FROM erp_items WHERE item = ?1")?
            .query_row(params![&l.item], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((description, uom)) = item else {
            problems.push(format!(
                "lines[{n}].item: no item {:?} in the item master",
                l.item
            ));
            continue;
        };
        if let Some(o) = super::erp::read_obsolete(conn, &l.item)? {
            problems.push(format!(
                "lines[{n}].item: {} is {}; it is no longer sold",
                l.item,
                o.describe()
            ));
            continue;
        }
        if !rows.contains_key(&l.item) {
            rows.insert(l.item.clone(), price_rows(conn, &l.item, currency)?);
        }
        let listed = list_price(&rows[&l.item], &l.item, currency, customer, l.qty, on);
        let (unit_price, list, source) = match (l.unit_price, listed) {
            (Some(p), Ok((list, _))) => (p, Some(list), "manual"),
            (Some(p), Err(_)) => (p, None, "manual"),
            (None, Ok((list, source))) => (list, Some(list), source),
            (None, Err(why)) => {
                problems.push(format!("lines[{n}]: {why}; or write the line's unit_price"));
                continue;
            }
        };
        let Some(net) = line_net(l.qty, unit_price, discount) else {
            problems.push(format!("lines[{n}]: the amount is too large"));
            continue;
        };
        lines.push(SalesLine {
            line: u32::try_from(n).unwrap_or(u32::MAX),
            item: l.item.clone(),
            description: l
                .description
                .clone()
                .filter(|d| !d.trim().is_empty())
                .unwrap_or(description),
            qty: l.qty,
            uom,
            list_price: list,
            price_source: source.into(),
            unit_price,
            discount_pct: discount,
            net,
            requested_date: l.requested_date,
            ordered_qty: Decimal::ZERO,
            quotation_line: None,
            confirmed_date: None,
            limit: None,
            promise: None,
            shipped_qty: Decimal::ZERO,
            work_orders: Vec::new(),
            good: 0,
            scrap: 0,
            projected_date: None,
            late_risk: None,
        });
    }
    Ok(if problems.is_empty() {
        Ok(lines)
    } else {
        Err(problems)
    })
}

fn write_lines(conn: &Connection, doc: i64, lines: &[SalesLine]) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM crm_sales_lines WHERE doc = ?1")?
        .execute(params![doc])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO crm_sales_lines (doc, line, item, description, qty, uom, list_price,
             price_source, unit_price, discount_pct, net, requested_date, ordered_qty,
             quotation_line, confirmed_date, promise_limit, promise, shipped_qty)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?;
    for l in lines {
        insert.execute(params![
            doc,
            l.line,
            l.item,
            l.description,
            text(l.qty),
            l.uom,
            l.list_price.map(text),
            l.price_source,
            text(l.unit_price),
            text(l.discount_pct),
            text(l.net),
            l.requested_date.map(day),
            text(l.ordered_qty),
            l.quotation_line,
            l.confirmed_date.map(day),
            l.limit.as_ref().map(json).transpose()?,
            l.promise,
            text(l.shipped_qty),
        ])?;
    }
    Ok(())
}

fn doc_totals(lines: &[SalesLine], tax_pct: Decimal) -> Option<Totals> {
    totals(lines.iter().map(|l| l.net), tax_pct)
}

/// A document's header as written.
struct Header<'a> {
    kind: &'a str,
    number: String,
    revision: u32,
    replaces: Option<i64>,
    customer: &'a CustomerTerms,
    contact: Option<i64>,
    owner: &'a str,
    currency: &'a str,
    status: &'a str,
    date: NaiveDate,
    valid_until: Option<NaiveDate>,
    quotation: Option<i64>,
    customer_po: &'a str,
    tax_code: Option<&'a str>,
    tax_pct: Decimal,
    totals: Totals,
    note: &'a str,
}

impl Header<'_> {
    fn search(&self) -> String {
        [
            self.number.as_str(),
            &self.customer.code,
            &self.customer.names,
            self.customer_po,
        ]
        .join("\u{1F}")
        .to_lowercase()
    }
}

fn insert_doc(
    conn: &Connection,
    h: &Header<'_>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO crm_sales_docs (kind, number, revision, replaces, customer, contact, owner,
                 currency, status, doc_date, valid_until, quotation, customer_po, tax_code, tax_pct,
                 net, tax, gross, note, search, created_by, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20, ?21, ?22, ?22) RETURNING id",
        )?
        .query_row(
            params![
                h.kind,
                h.number,
                h.revision,
                h.replaces,
                h.customer.code,
                h.contact,
                h.owner,
                h.currency,
                h.status,
                day(h.date),
                h.valid_until.map(day),
                h.quotation,
                h.customer_po,
                h.tax_code,
                text(h.tax_pct),
                text(h.totals.net),
                text(h.totals.tax),
                text(h.totals.gross),
                h.note,
                h.search(),
                by,
                ts(now)
            ],
            |r| r.get(0),
        )?)
}

fn update_doc(
    conn: &Connection,
    id: i64,
    h: &Header<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE crm_sales_docs SET customer = ?2, contact = ?3, owner = ?4, currency = ?5,
             doc_date = ?6, valid_until = ?7, customer_po = ?8, tax_code = ?9, tax_pct = ?10,
             net = ?11, tax = ?12, gross = ?13, note = ?14, search = ?15, updated_at = ?16
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        h.customer.code,
        h.contact,
        h.owner,
        h.currency,
        day(h.date),
        h.valid_until.map(day),
        h.customer_po,
        h.tax_code,
        text(h.tax_pct),
        text(h.totals.net),
        text(h.totals.tax),
        text(h.totals.gross),
        h.note,
        h.search(),
        ts(now)
    ])?;
    Ok(())
}

fn set_status(
    conn: &Connection,
    id: i64,
    status: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE crm_sales_docs SET status = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, status, ts(now)])?;
    Ok(())
}

/// Resolves a document's open flags.
/// A refusal naming every quoted line (its number, its item) whose item was made obsolete: a
/// quotation offering it must be revised before it is ordered.
fn obsolete_lines<'a>(
    conn: &Connection,
    lines: impl Iterator<Item = (u32, &'a str)>,
) -> Result<Option<SalesRefusal>, StoreError> {
    let mut problems = Vec::new();
    for (line, item) in lines {
        if let Some(o) = super::erp::read_obsolete(conn, item)? {
            problems.push(format!(
                "line {line}: {item} is {}; revise the quotation to offer something else",
                o.describe()
            ));
        }
    }
    Ok((!problems.is_empty()).then(|| SalesRefusal::Conflict(problems.join("; "))))
}

/// Resolves the open flags of `reason` on lines of `item` (an item back in sale): what raised
/// them no longer holds.
pub(super) fn resolve_item_flags(
    conn: &Connection,
    item: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE crm_sales_flags SET resolved_at = ?3, resolved_by = 'system'
             WHERE item = ?1 AND reason = ?2 AND resolved_at IS NULL",
        )?
        .execute(params![item, reason, ts(now)])?)
}

fn resolve_flags(
    conn: &Connection,
    doc: i64,
    by: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE crm_sales_flags SET resolved_at = ?2, resolved_by = ?3
             WHERE doc = ?1 AND resolved_at IS NULL",
        )?
        .execute(params![doc, ts(now), by])?)
}

/// The header's tax rate: the code's on the date, or refused.
fn tax_of(
    conn: &Connection,
    code: Option<&str>,
    on: NaiveDate,
) -> Result<Result<Decimal, SalesRefusal>, StoreError> {
    match code {
        None => Ok(Ok(Decimal::ZERO)),
        Some(code) => Ok(tax_rate_on(conn, code, on)?.ok_or_else(|| {
            SalesRefusal::Invalid(vec![format!(
                "tax_code: no tax rate {code:?} in force on {on}; expected one put at /api/v1/tax-rates"
            )])
        })),
    }
}

fn contact_ok(
    conn: &Connection,
    contact: Option<i64>,
    customer: &str,
) -> Result<Result<(), SalesRefusal>, StoreError> {
    let Some(id) = contact else {
        return Ok(Ok(()));
    };
    let at: Option<Option<String>> = conn
        .prepare_cached("SELECT customer FROM crm_contacts WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    Ok(match at {
        Some(Some(c)) if c == customer => Ok(()),
        Some(_) => Err(SalesRefusal::Conflict(format!(
            "contact {id} is not a contact of customer {customer:?}"
        ))),
        None => Err(not_found(format!("no contact {id}"))),
    })
}

/// Lines priced again, and what changed (line, item, old and new price).
type Repriced = (Vec<SalesLine>, Vec<serde_json::Value>);

/// The lines priced again from the price lists on `on`: `(lines, what changed)`. A line with
/// a manual price keeps it; its list price is brought up to date.
fn repriced(
    conn: &Connection,
    doc: &SalesDoc,
    customer: &CustomerTerms,
    on: NaiveDate,
) -> Result<Result<Repriced, Vec<String>>, StoreError> {
    let mut lines = doc.lines.clone();
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    for l in &mut lines {
        if let Some(o) = super::erp::read_obsolete(conn, &l.item)? {
            // Re-pricing would resolve the flag without removing the item from the offer.
            problems.push(format!(
                "line {}: {} is {}; change the line instead",
                l.line,
                l.item,
                o.describe()
            ));
            continue;
        }
        let rows = price_rows(conn, &l.item, &doc.currency)?;
        let listed = list_price(&rows, &l.item, &doc.currency, customer, l.qty, on);
        let old = l.unit_price;
        match listed {
            Ok((price, source)) => {
                l.list_price = Some(price);
                if l.price_source != "manual" {
                    l.unit_price = price;
                    l.price_source = source.into();
                }
            }
            Err(_) if l.price_source == "manual" => l.list_price = None,
            Err(why) => {
                problems.push(format!("line {}: {why}", l.line));
                continue;
            }
        }
        match line_net(l.qty, l.unit_price, l.discount_pct) {
            Some(net) => l.net = net,
            None => problems.push(format!("line {}: the amount is too large", l.line)),
        }
        if l.unit_price != old {
            changes.push(json!({"line": l.line, "item": l.item, "old": old, "new": l.unit_price}));
        }
    }
    Ok(if problems.is_empty() {
        Ok((lines, changes))
    } else {
        Err(problems)
    })
}

/// A draft re-priced where it stands: its lines and totals written, its open flags resolved,
/// the change kept in its history (quotations and orders alike).
fn reprice_in_place(
    conn: &Connection,
    id: i64,
    lines: &[SalesLine],
    changes: Vec<serde_json::Value>,
    tax_pct: Decimal,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), SalesRefusal>, StoreError> {
    let Some(totals) = doc_totals(lines, tax_pct) else {
        return Ok(Err(SalesRefusal::Invalid(vec![
            "the totals are too large".into(),
        ])));
    };
    write_lines(conn, id, lines)?;
    conn.prepare_cached(
        "UPDATE crm_sales_docs SET net = ?2, tax = ?3, gross = ?4, updated_at = ?5 WHERE id = ?1",
    )?
    .execute(params![
        id,
        text(totals.net),
        text(totals.tax),
        text(totals.gross),
        ts(now)
    ])?;
    resolve_flags(conn, id, by, now)?;
    history(conn, id, by, "repriced", json!({"lines": changes}), now)?;
    Ok(Ok(()))
}

fn terms_of_doc(conn: &Connection, doc: &SalesDoc) -> Result<CustomerTerms, StoreError> {
    customer_terms(conn, &doc.customer, &SalesScope::All)?
        .ok_or_else(|| StoreError::Corrupt(format!("customer {:?} vanished", doc.customer)))
}

/// A new revision of quotation `old` dated `today`, with `lines`; `old` superseded, its open
/// flags moved over (or resolved, when the lines were re-priced).
fn new_revision(
    conn: &Connection,
    old: &SalesDoc,
    lines: &[SalesLine],
    repriced: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Result<i64, SalesRefusal>, StoreError> {
    let today = now.date_naive();
    let customer = terms_of_doc(conn, old)?;
    let days = old
        .valid_until
        .map(|u| u.signed_duration_since(old.date).num_days())
        .and_then(|d| u64::try_from(d).ok())
        .filter(|d| *d > 0);
    let until = match valid_until(today, days) {
        Ok(u) => u,
        Err(e) => return Ok(Err(SalesRefusal::Invalid(vec![e]))),
    };
    let tax_pct = match tax_of(conn, old.tax_code.as_deref(), today)? {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    let mut lines = lines.to_vec();
    for l in &mut lines {
        l.ordered_qty = Decimal::ZERO;
    }
    let Some(totals) = doc_totals(&lines, tax_pct) else {
        return Ok(Err(SalesRefusal::Invalid(vec![
            "the totals are too large".into(),
        ])));
    };
    let id = insert_doc(
        conn,
        &Header {
            kind: "quotation",
            number: old.number.clone(),
            revision: old.revision + 1,
            replaces: Some(old.id),
            customer: &customer,
            contact: old.contact,
            owner: &old.owner,
            currency: &old.currency,
            status: QuoteStatus::Draft.as_str(),
            date: today,
            valid_until: Some(until),
            quotation: None,
            customer_po: "",
            tax_code: old.tax_code.as_deref(),
            tax_pct,
            totals,
            note: &old.note,
        },
        by,
        now,
    )?;
    write_lines(conn, id, &lines)?;
    conn.prepare_cached(
        "UPDATE crm_sales_docs SET status = 'superseded', replaced_by = ?2, updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![old.id, id, ts(now)])?;
    if repriced {
        resolve_flags(conn, old.id, by, now)?;
    } else {
        conn.prepare_cached(
            "UPDATE crm_sales_flags SET doc = ?2 WHERE doc = ?1 AND resolved_at IS NULL",
        )?
        .execute(params![old.id, id])?;
    }
    history(
        conn,
        old.id,
        by,
        "revised",
        json!({"replaced_by": id, "revision": old.revision + 1}),
        now,
    )?;
    history(
        conn,
        id,
        by,
        "created",
        json!({"replaces": old.id, "revision": old.revision + 1, "valid_until": until}),
        now,
    )?;
    Ok(Ok(id))
}

// ---------------------------------------------------------------------------------------------
// Confirming: credit and promise

/// Confirmed orders of a customer not yet completed, in `currency` on `today`.
fn open_orders_total(
    conn: &Connection,
    customer: &str,
    currency: &str,
    today: NaiveDate,
) -> Result<Result<Decimal, String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT currency, gross FROM crm_sales_docs
         WHERE kind = 'order' AND customer = ?1 AND status = 'confirmed'",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map(params![customer], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut total = Decimal::ZERO;
    for (cur, gross) in rows {
        let Some(value) = converted(conn, decimal(&gross)?, &cur, currency, today)? else {
            return Ok(Err(format!(
                "no exchange rate from {cur} to {currency} on or before {today}; expected one put at /api/v1/exchange-rates"
            )));
        };
        let Some(sum) = total.checked_add(value) else {
            return Ok(Err("the open orders' total is too large".into()));
        };
        total = sum;
    }
    Ok(Ok(total))
}

fn converted(
    conn: &Connection,
    amount: Decimal,
    from: &str,
    to: &str,
    on: NaiveDate,
) -> Result<Option<Decimal>, StoreError> {
    if from == to {
        return Ok(Some(amount));
    }
    Ok(exchange_rate_on(conn, from, to, on)?
        .and_then(|rate| amount.checked_mul(rate))
        .map(crate::crm::sales::cents))
}

/// Demand of confirmed orders' open lines: `SO000001/1`, its quantity not yet shipped, on
/// its confirmed date (else the requested one, else the order's date). MRP nets it like the
/// demands of a file and pegs what it plans to it; the promise holds stock for it.
pub(super) fn sales_demands(conn: &Connection) -> Result<Vec<Dated>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.number, l.line, l.item, l.qty, l.shipped_qty,
             COALESCE(l.confirmed_date, l.requested_date, d.doc_date)
         FROM crm_sales_lines l JOIN crm_sales_docs d ON d.id = l.doc
         WHERE d.kind = 'order' AND d.status = 'confirmed' ORDER BY d.number, l.line",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (number, line, item, qty, shipped, due) = row?;
        let open = decimal(&qty)?
            .checked_sub(decimal(&shipped)?)
            .unwrap_or(Decimal::ZERO);
        if open > Decimal::ZERO {
            out.push(Dated {
                reference: format!("{number}/{line}"),
                item,
                qty: open,
                due: date(&due)?,
            });
        }
    }
    Ok(out)
}

/// Promise dates for an order's lines against what the plant has now (the other confirmed
/// orders, demands and work orders' components held), or why there are none.
/// The routings, work centers and open work capable-to-promise plans on.
type Capacity = (
    Vec<promise::Operation>,
    Vec<promise::WorkCenter>,
    Vec<promise::OpenWork>,
);

/// Milliseconds in an hour: routings keep their planned time per unit in milliseconds.
const MS_PER_HOUR: i64 = 3_600_000;

/// What capable-to-promise plans on, as the store keeps it: the routings of `known` items
/// whose every operation has a planned time per unit (`ideal_cycle_ms`) on a work center with
/// `hours_per_day` (an item with any other operation keeps its lead time; no setup times are
/// kept, so setup is 0), those work centers, and the work open work orders (planned to on
/// hold) still have on them: the quantity not yet good or scrapped at each operation times
/// its planned time.
fn capacity_in(conn: &Connection, known: &HashSet<&str>) -> Result<Capacity, StoreError> {
    let mut work_centers = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT work_center, hours_per_day FROM mes_work_centers
             WHERE hours_per_day IS NOT NULL ORDER BY work_center",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (work_center, hours) = row?;
            work_centers.push(promise::WorkCenter {
                work_center,
                hours_per_day: decimal(&hours)?,
            });
        }
    }
    let planned: HashSet<&str> = work_centers
        .iter()
        .map(|w| w.work_center.as_str())
        .collect();
    let hours_of = |ms: i64| Decimal::from(ms) / Decimal::from(MS_PER_HOUR);
    let mut routings = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT item, operation, work_center, ideal_cycle_ms FROM mes_routing_ops
             ORDER BY item, operation",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?;
        let mut by_item: BTreeMap<String, Vec<(u32, String, Option<i64>)>> = BTreeMap::new();
        for row in rows {
            let (item, operation, work_center, ms) = row?;
            by_item
                .entry(item)
                .or_default()
                .push((operation, work_center, ms));
        }
        for (item, ops) in by_item {
            let timed = ops
                .iter()
                .all(|(_, wc, ms)| ms.is_some_and(|ms| ms > 0) && planned.contains(wc.as_str()));
            if !timed || !known.contains(item.as_str()) {
                continue;
            }
            for (operation, work_center, ms) in ops {
                routings.push(promise::Operation {
                    item: item.clone(),
                    operation,
                    work_center,
                    setup_hours: Decimal::ZERO,
                    run_hours_per_unit: hours_of(ms.unwrap_or(0)),
                });
            }
        }
    }
    let mut open: BTreeMap<String, promise::OpenWork> = BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT o.work_order, o.due, o.qty, p.work_center, p.ideal_cycle_ms, p.good, p.scrap
             FROM wo_orders o JOIN wo_operations p ON p.work_order = o.work_order
             WHERE o.state IN ('planned', 'released', 'in_progress', 'on_hold')
             ORDER BY o.work_order, p.operation",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        for row in rows {
            let (work_order, due, qty, work_center, ms, good, scrap) = row?;
            let Some(ms) = ms.filter(|ms| *ms > 0) else {
                continue;
            };
            if !planned.contains(work_center.as_str()) {
                continue;
            }
            let done = Decimal::from(good.saturating_add(scrap));
            let left = decimal(&qty)?
                .checked_sub(done)
                .unwrap_or(Decimal::ZERO)
                .max(Decimal::ZERO);
            let Some(hours) = left.checked_mul(hours_of(ms)) else {
                continue;
            };
            let due = date(&due)?;
            open.entry(work_order.clone())
                .or_insert_with(|| promise::OpenWork {
                    work_order,
                    due,
                    operations: Vec::new(),
                })
                .operations
                .push((work_center, hours));
        }
    }
    Ok((routings, work_centers, open.into_values().collect()))
}

fn promise_lines(
    conn: &Connection,
    doc: &SalesDoc,
    today: NaiveDate,
) -> Result<Result<Vec<promise::LinePromise>, String>, StoreError> {
    let data = super::erp::master_data_in(conn)?;
    let calendar = match Calendar::from_spec(&data.calendar) {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("the working calendar is invalid: {e}"))),
    };
    let known: HashSet<&str> = data.items.iter().map(|i| i.item.as_str()).collect();
    let (routings, work_centers, open) = capacity_in(conn, &known)?;
    let loads = promise::backward_loads(&calendar, today, &work_centers, &open);
    let input = PlantInput {
        as_of: today,
        calendar,
        items: data.items,
        bom: data.bom,
        routings,
        work_centers,
        loads,
        on_hand: data.on_hand,
        receipts: data.receipts,
        holds: data.demands,
    };
    let lines: Vec<OrderLine> = doc
        .lines
        .iter()
        .map(|l| OrderLine {
            item: l.item.clone(),
            qty: l.qty - l.shipped_qty,
            requested: l.requested_date.unwrap_or(doc.date),
        })
        .collect();
    Ok(promise::promise(&input, &lines).map_err(|e| e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Flags

/// Flags every open document line whose price the changed rows reach (a list row: every
/// customer; a group's: its customers; a customer's: theirs) and whose price lists' price is
/// now different from the one it was priced at; clears a price flag whose line is back at its
/// price; tells each owner once, with a task. Runs in the transaction of the price change.
pub(super) fn flag_price_changes(
    conn: &Connection,
    changed: &[PriceKey],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let today = now.date_naive();
    let mut by_item: BTreeMap<(&str, &str), Vec<&PriceScope>> = BTreeMap::new();
    for key in changed {
        by_item
            .entry((key.item.as_str(), key.currency.as_str()))
            .or_default()
            .push(&key.scope);
    }
    let mut told: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ((item, currency), scopes) in by_item {
        let rows = price_rows(conn, item, currency)?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT d.id, d.kind, d.number, d.revision, d.customer,
                 COALESCE(c.customer_group, ''), d.owner, l.line, l.qty, l.list_price, l.unit_price
             FROM crm_sales_lines l JOIN crm_sales_docs d ON d.id = l.doc
                 LEFT JOIN crm_customers c ON c.code = d.customer
             WHERE l.item = ?1 AND d.currency = ?2 AND {OPEN}
             ORDER BY d.id, l.line"
        ))?;
        let lines = stmt.query_map(params![item, currency], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, u32>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, String>(10)?,
            ))
        })?;
        let lines: Vec<_> = lines.collect::<Result<_, _>>()?;
        for (doc, kind, number, revision, customer, group, owner, line, qty, list, unit) in lines {
            let reached = scopes.iter().any(|s| match s {
                PriceScope::List => true,
                PriceScope::Group(g) => *g == group,
                PriceScope::Customer(c) => *c == customer,
            });
            if !reached {
                continue;
            }
            let old = match list {
                Some(l) => decimal(&l)?,
                None => decimal(&unit)?,
            };
            let terms = CustomerTerms {
                code: customer.clone(),
                names: String::new(),
                currency: currency.to_owned(),
                group: Some(group).filter(|g| !g.is_empty()),
                credit_limit: None,
            };
            let new = list_price(&rows, item, currency, &terms, decimal(&qty)?, today);
            let (new_price, detail) = match &new {
                Ok((p, source)) => (
                    Some(*p),
                    format!("the {source} price of {item} is now {p} {currency} (was {old})"),
                ),
                Err(why) => (None, why.clone()),
            };
            let open: Option<i64> = conn
                .prepare_cached(
                    "SELECT id FROM crm_sales_flags
                     WHERE doc = ?1 AND line = ?2 AND reason = 'price' AND resolved_at IS NULL",
                )?
                .query_row(params![doc, line], |r| r.get(0))
                .optional()?;
            if new_price == Some(old) {
                if let Some(flag) = open {
                    conn.prepare_cached(
                        "UPDATE crm_sales_flags SET resolved_at = ?2, resolved_by = 'price lists' WHERE id = ?1",
                    )?
                    .execute(params![flag, ts(now)])?;
                }
                continue;
            }
            match open {
                Some(flag) => {
                    conn.prepare_cached(
                        "UPDATE crm_sales_flags SET new_price = ?2, detail = ?3, flagged_at = ?4 WHERE id = ?1",
                    )?
                    .execute(params![flag, new_price.map(text), detail, ts(now)])?;
                }
                None => {
                    conn.prepare_cached(
                        "INSERT INTO crm_sales_flags (doc, line, item, reason, old_price, new_price,
                             detail, flagged_at)
                         VALUES (?1, ?2, ?3, 'price', ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![doc, line, item, text(old), new_price.map(text), detail, ts(now)])?;
                }
            }
            history(
                conn,
                doc,
                "system",
                "flagged",
                json!({"line": line, "item": item, "reason": "price", "old": old, "new": new_price}),
                now,
            )?;
            let reference = if kind == "quotation" {
                format!("{number}/{revision}")
            } else {
                number
            };
            told.entry(owner).or_default().insert(reference);
        }
    }
    tell_owners(conn, told, "price", now)
}

/// Flags every open document line of `item` for a change of what the product is (`reason`
/// `bom_revision`), its price unchanged, and tells the owners.
pub(super) fn flag_item_changed(
    conn: &Connection,
    item: &str,
    reason: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT d.id, d.kind, d.number, d.revision, d.owner, l.line, COALESCE(l.list_price, l.unit_price)
         FROM crm_sales_lines l JOIN crm_sales_docs d ON d.id = l.doc
         WHERE l.item = ?1 AND {OPEN} ORDER BY d.id, l.line"
    ))?;
    let lines = stmt.query_map(params![item], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, u32>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, u32>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let lines: Vec<_> = lines.collect::<Result<_, _>>()?;
    let mut told: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (doc, kind, number, revision, owner, line, price) in lines {
        // A second change of the same kind before anyone looked updates the flag.
        let updated = conn
            .prepare_cached(
                "UPDATE crm_sales_flags SET detail = ?4, flagged_at = ?5
                 WHERE doc = ?1 AND line = ?2 AND reason = ?3 AND resolved_at IS NULL",
            )?
            .execute(params![doc, line, reason, detail, ts(now)])?;
        if updated == 0 {
            conn.prepare_cached(
                "INSERT INTO crm_sales_flags (doc, line, item, reason, old_price, new_price, detail, flagged_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
            )?
            .execute(params![doc, line, item, reason, price, detail, ts(now)])?;
        }
        history(
            conn,
            doc,
            "system",
            "flagged",
            json!({"line": line, "item": item, "reason": reason, "detail": detail}),
            now,
        )?;
        let reference = if kind == "quotation" {
            format!("{number}/{revision}")
        } else {
            number
        };
        told.entry(owner).or_default().insert(reference);
    }
    tell_owners(conn, told, reason, now)
}

/// One task per owner, due today, naming the documents to look at.
fn tell_owners(
    conn: &Connection,
    told: BTreeMap<String, BTreeSet<String>>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for (owner, docs) in told {
        let shown: Vec<&str> = docs.iter().take(10).map(String::as_str).collect();
        let more = docs.len().saturating_sub(shown.len());
        let what = match reason {
            "price" => "Prices changed: re-price",
            "obsolete" => "Item made obsolete: replace it in",
            _ => "Product changed: review",
        };
        let subject = if more > 0 {
            format!("{what} {} and {more} more", shown.join(", "))
        } else {
            format!("{what} {}", shown.join(", "))
        };
        conn.prepare_cached(
            "INSERT INTO crm_activities (kind, subject, body, customer, contact, at, due, done_at,
                 owner, created_by, created_at)
             VALUES ('task', ?1, ?2, NULL, NULL, ?3, ?4, NULL, ?5, 'system', ?3)",
        )?
        .execute(params![
            subject,
            format!(
                "ERP changed what {} document(s) of yours use; each is flagged with the old and new price at /api/v1/crm/flags. Re-pricing is your decision.",
                docs.len()
            ),
            ts(now),
            day(now.date_naive()),
            owner
        ])?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

fn order_lines_from_quotation(
    q: &SalesDoc,
    input: &OrderInput,
) -> Result<Vec<(u32, SalesLine)>, SalesRefusal> {
    let picks: Vec<(u32, Option<Decimal>, Option<NaiveDate>)> = match &input.quoted_lines {
        Some(picks) => picks
            .iter()
            .map(|p| (p.line, p.qty, p.requested_date))
            .collect(),
        None => q.lines.iter().map(|l| (l.line, None, None)).collect(),
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (line, qty, requested) in picks {
        if !seen.insert(line) {
            problems.push(format!("quoted_lines: line {line} twice"));
            continue;
        }
        let Some(ql) = q.lines.iter().find(|l| l.line == line) else {
            problems.push(format!(
                "quoted_lines: quotation {} has no line {line}",
                q.reference()
            ));
            continue;
        };
        let left = ql.qty - ql.ordered_qty;
        let qty = qty.unwrap_or(left);
        if qty <= Decimal::ZERO {
            if input.quoted_lines.is_some() {
                problems.push(format!(
                    "line {line}: nothing left to order ({} quoted, {} ordered)",
                    ql.qty.normalize(),
                    ql.ordered_qty.normalize()
                ));
            }
            continue;
        }
        if qty > left {
            problems.push(format!(
                "line {line}: {} ordered, but {} of the {} quoted were ordered already; at most {} left",
                qty.normalize(),
                ql.ordered_qty.normalize(),
                ql.qty.normalize(),
                left.normalize()
            ));
            continue;
        }
        let Some(net) = line_net(qty, ql.unit_price, ql.discount_pct) else {
            problems.push(format!("line {line}: the amount is too large"));
            continue;
        };
        let n = u32::try_from(out.len() + 1).unwrap_or(u32::MAX);
        out.push((
            line,
            SalesLine {
                line: n,
                qty,
                net,
                requested_date: requested.or(ql.requested_date),
                ordered_qty: Decimal::ZERO,
                quotation_line: Some(line),
                ..ql.clone()
            },
        ));
    }
    if !problems.is_empty() {
        return Err(SalesRefusal::Conflict(problems.join("; ")));
    }
    if out.is_empty() {
        return Err(SalesRefusal::Conflict(format!(
            "everything quotation {} offered has been ordered",
            q.reference()
        )));
    }
    Ok(out)
}

/// Gives a cancelled order's quantities back to its quotation's lines.
fn give_back(conn: &Connection, order: &SalesDoc, now: DateTime<Utc>) -> Result<(), StoreError> {
    let Some(q) = order.quotation else {
        return Ok(());
    };
    let quotation = must_read(conn, "quotation", q, now.date_naive())?;
    for l in &order.lines {
        let Some(ql) = l
            .quotation_line
            .and_then(|n| quotation.lines.iter().find(|x| x.line == n))
        else {
            continue;
        };
        let left = (ql.ordered_qty - l.qty).max(Decimal::ZERO);
        conn.prepare_cached(
            "UPDATE crm_sales_lines SET ordered_qty = ?3 WHERE doc = ?1 AND line = ?2",
        )?
        .execute(params![q, ql.line, text(left)])?;
    }
    let any: bool = conn
        .prepare_cached(
            "SELECT 1 FROM crm_sales_docs WHERE kind = 'order' AND quotation = ?1 AND status <> 'cancelled' AND id <> ?2",
        )?
        .exists(params![q, order.id])?;
    if !any && quotation.status == QuoteStatus::Accepted.as_str() {
        set_status(conn, q, QuoteStatus::Sent.as_str(), now)?;
    }
    Ok(())
}

#[async_trait]
impl SalesStore for SqlStore {
    async fn sales_docs(
        &self,
        kind: &'static str,
        query: SalesQuery,
        scope: SalesScope,
        today: NaiveDate,
    ) -> Result<Vec<SalesDocSummary>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = vec![Value::from(kind.to_owned())];
            let mut sql = String::from(
                "SELECT d.id, d.kind, d.number, d.revision, d.customer, COALESCE(c.name_zh, ''),
                     COALESCE(c.name_en, ''), d.owner, d.status, d.doc_date, d.valid_until,
                     d.currency, d.gross,
                     (SELECT COUNT(*) FROM crm_sales_lines l WHERE l.doc = d.id),
                     (SELECT COUNT(*) FROM crm_sales_flags f WHERE f.doc = d.id AND f.resolved_at IS NULL)
                 FROM crm_sales_docs d LEFT JOIN crm_customers c ON c.code = d.customer
                 WHERE d.kind = ?1",
            );
            if let Some(customer) = query.customer {
                let p = bind(&mut params, customer);
                sql.push_str(&format!(" AND d.customer = {p}"));
            }
            if let Some(status) = query.status {
                let p = bind(&mut params, status);
                sql.push_str(&format!(" AND d.status = {p}"));
            }
            if let Some(owner) = query.owner {
                let p = bind(&mut params, owner);
                sql.push_str(&format!(" AND d.owner = {p}"));
            }
            if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
                let p = bind(&mut params, like(search));
                sql.push_str(&format!(" AND d.search LIKE {p} ESCAPE '!'"));
            }
            if query.flagged {
                sql.push_str(
                    " AND EXISTS (SELECT 1 FROM crm_sales_flags f WHERE f.doc = d.id AND f.resolved_at IS NULL)",
                );
            }
            if let Some(before) = query.before {
                let p = bind(&mut params, before);
                sql.push_str(&format!(" AND d.id < {p}"));
            }
            // Newest first by walking `crm_sales_docs_kind` backwards and stopping at the page's
            // end; `|| ''` keeps SQLite from taking the owner index and sorting a whole team's
            // documents (and counting their lines) first.
            sql.push_str(&scoped(&scope, "(d.owner || '')", &mut params));
            let p = bind(
                &mut params,
                i64::try_from(query.limit.clamp(1, MAX_LIST)).unwrap_or(50),
            );
            sql.push_str(&format!(" ORDER BY d.id DESC LIMIT {p}"));
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |r| {
                Ok((|| -> Result<SalesDocSummary, StoreError> {
                    let kind: String = r.get(1)?;
                    let status: String = r.get(8)?;
                    let valid_until = opt_date(r.get(10)?)?;
                    Ok(SalesDocSummary {
                        id: r.get(0)?,
                        expired: expired(&kind, &status, valid_until, today),
                        kind,
                        number: r.get(2)?,
                        revision: r.get(3)?,
                        customer: r.get(4)?,
                        customer_name: customer_name(r.get(5)?, r.get(6)?),
                        owner: r.get(7)?,
                        status,
                        date: date(&r.get::<_, String>(9)?)?,
                        valid_until,
                        currency: r.get(11)?,
                        gross: decimal(&r.get::<_, String>(12)?)?,
                        lines: u32::try_from(r.get::<_, i64>(13)?).unwrap_or(0),
                        flags: u32::try_from(r.get::<_, i64>(14)?).unwrap_or(0),
                    })
                })())
            })?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn sales_doc(
        &self,
        kind: &'static str,
        id: i64,
        scope: SalesScope,
        today: NaiveDate,
    ) -> Result<Option<SalesDoc>, StoreError> {
        self.read(move |conn| read_doc(conn, kind, id, &scope, today))
            .await
    }

    async fn put_quotation(
        &self,
        id: Option<i64>,
        input: QuotationInput,
        owner: String,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> SalesResult<SalesDoc> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let today = now.date_naive();
            let current = match id {
                None => None,
                Some(id) => match read_doc(&tx, "quotation", id, &scope, today)? {
                    None => return Ok(Err(not_found(format!("no quotation {id}")))),
                    Some(q) if q.status != QuoteStatus::Draft.as_str() => {
                        return Ok(Err(SalesRefusal::Conflict(format!(
                            "quotation {} is {}: a sent revision never changes; revise it (POST /api/v1/quotations/{id}/revise) for a new one",
                            q.reference(),
                            q.status
                        ))));
                    }
                    Some(q) => Some(q),
                },
            };
            let Some(customer) = customer_terms(&tx, &input.customer, &scope)? else {
                return Ok(Err(not_found(format!("no customer {:?}", input.customer))));
            };
            if let Err(r) = contact_ok(&tx, input.contact, &customer.code)? {
                return Ok(Err(r));
            }
            let date = input.date.unwrap_or(today);
            let until = match valid_until(date, input.valid_days) {
                Ok(u) => u,
                Err(e) => return Ok(Err(SalesRefusal::Invalid(vec![e]))),
            };
            let tax_pct = match tax_of(&tx, input.tax_code.as_deref(), date)? {
                Ok(t) => t,
                Err(r) => return Ok(Err(r)),
            };
            let currency = input.currency.clone().unwrap_or(customer.currency.clone());
            let lines = match price_lines(&tx, &input.lines, &currency, &customer, date)? {
                Ok(lines) => lines,
                Err(problems) => return Ok(Err(SalesRefusal::Invalid(problems))),
            };
            let Some(totals) = doc_totals(&lines, tax_pct) else {
                return Ok(Err(SalesRefusal::Invalid(vec!["the totals are too large".into()])));
            };
            let header = |number: String, revision: u32| Header {
                kind: "quotation",
                number,
                revision,
                replaces: current.as_ref().and_then(|q| q.replaces),
                customer: &customer,
                contact: input.contact,
                owner: &owner,
                currency: &currency,
                status: QuoteStatus::Draft.as_str(),
                date,
                valid_until: Some(until),
                quotation: None,
                customer_po: "",
                tax_code: input.tax_code.as_deref(),
                tax_pct,
                totals,
                note: &input.note,
            };
            let id = match &current {
                None => {
                    let number = next_number(&tx, "quotation")?;
                    let id = insert_doc(&tx, &header(number, 1), &by, now)?;
                    history(&tx, id, &by, "created", json!({"lines": lines.len(), "gross": totals.gross}), now)?;
                    id
                }
                Some(q) => {
                    update_doc(&tx, q.id, &header(q.number.clone(), q.revision), now)?;
                    history(&tx, q.id, &by, "changed", json!({"lines": lines.len(), "gross": totals.gross}), now)?;
                    // A draft re-entered is priced afresh: what flagged it no longer holds.
                    resolve_flags(&tx, q.id, &by, now)?;
                    q.id
                }
            };
            write_lines(&tx, id, &lines)?;
            let doc = must_read(&tx, "quotation", id, today)?;
            tx.commit()?;
            Ok(Ok(doc))
        })
        .await
    }

    async fn quotation_action(
        &self,
        id: i64,
        action: QuoteAction,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> SalesResult<SalesDoc> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let today = now.date_naive();
            let Some(q) = read_doc(&tx, "quotation", id, &scope, today)? else {
                return Ok(Err(not_found(format!("no quotation {id}"))));
            };
            let status = QuoteStatus::parse(&q.status)
                .ok_or_else(|| StoreError::Corrupt(format!("quotation status {:?}", q.status)))?;
            let conflict = |what: String| Ok(Err(SalesRefusal::Conflict(what)));
            if status == QuoteStatus::Superseded {
                return conflict(format!(
                    "quotation {} was replaced by a newer revision (id {}); act on that one",
                    q.reference(),
                    q.replaced_by.unwrap_or_default()
                ));
            }
            let result = match action {
                QuoteAction::Send => {
                    match send(&tx, &q, &by, now)? {
                        Ok(()) => id,
                        Err(r @ SalesRefusal::AwaitingApproval { .. }) => {
                            // The request asked for the approval is kept.
                            tx.commit()?;
                            return Ok(Err(r));
                        }
                        Err(r) => return Ok(Err(r)),
                    }
                }
                QuoteAction::Reject { reason } => {
                    if status != QuoteStatus::Sent {
                        return conflict(format!("quotation {} is {}; only a sent one is rejected", q.reference(), q.status));
                    }
                    set_status(&tx, id, QuoteStatus::Rejected.as_str(), now)?;
                    history(&tx, id, &by, "rejected", json!({"reason": reason}), now)?;
                    id
                }
                QuoteAction::Revise => {
                    if status == QuoteStatus::Draft {
                        return conflict(format!("quotation {} is a draft: change it in place", q.reference()));
                    }
                    if status == QuoteStatus::Accepted {
                        return conflict(format!(
                            "orders were made from quotation {}; make a new quotation for new terms",
                            q.reference()
                        ));
                    }
                    match new_revision(&tx, &q, &q.lines, false, &by, now)? {
                        Ok(new) => new,
                        Err(r) => return Ok(Err(r)),
                    }
                }
                QuoteAction::Reprice => {
                    if status == QuoteStatus::Accepted {
                        return conflict(format!(
                            "orders were made from quotation {}; its price is the one on the document",
                            q.reference()
                        ));
                    }
                    let customer = terms_of_doc(&tx, &q)?;
                    let (lines, changes) = match repriced(&tx, &q, &customer, today)? {
                        Ok(r) => r,
                        Err(problems) => return Ok(Err(SalesRefusal::Invalid(problems))),
                    };
                    if status == QuoteStatus::Draft && !q.expired {
                        if let Err(r) = reprice_in_place(&tx, id, &lines, changes, q.tax_pct, &by, now)? {
                            return Ok(Err(r));
                        }
                        id
                    } else {
                        let new = match new_revision(&tx, &q, &lines, true, &by, now)? {
                            Ok(new) => new,
                            Err(r) => return Ok(Err(r)),
                        };
                        history(&tx, new, &by, "repriced", json!({"lines": changes, "from": q.id}), now)?;
                        new
                    }
                }
            };
            let doc = must_read(&tx, "quotation", result, today)?;
            tx.commit()?;
            Ok(Ok(doc))
        })
        .await
    }

    async fn put_order(
        &self,
        id: Option<i64>,
        input: OrderInput,
        owner: String,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> SalesResult<SalesDoc> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let today = now.date_naive();
            if let Some(id) = id {
                if input.quotation.is_some() {
                    return Ok(Err(SalesRefusal::Invalid(vec![
                        "quotation: an order's quotation is named when the order is made".into(),
                    ])));
                }
                let Some(o) = read_doc(&tx, "order", id, &scope, today)? else {
                    return Ok(Err(not_found(format!("no sales order {id}"))));
                };
                if o.status != OrderStatus::Draft.as_str() {
                    return Ok(Err(SalesRefusal::Conflict(format!(
                        "sales order {} is {}; only a draft changes",
                        o.number, o.status
                    ))));
                }
                if o.quotation.is_some() && !input.lines.is_empty() {
                    return Ok(Err(SalesRefusal::Conflict(format!(
                        "sales order {} was made from quotation {}: its lines are the quotation's; change customer_po and note, or cancel it and order again",
                        o.number,
                        o.quotation_number.clone().unwrap_or_default()
                    ))));
                }
                if o.quotation.is_some() {
                    tx.prepare_cached(
                        "UPDATE crm_sales_docs SET customer_po = ?2, note = ?3, updated_at = ?4 WHERE id = ?1",
                    )?
                    .execute(params![id, input.customer_po, input.note, ts(now)])?;
                    history(&tx, id, &by, "changed", json!({"customer_po": input.customer_po}), now)?;
                    let doc = must_read(&tx, "order", id, today)?;
                    tx.commit()?;
                    return Ok(Ok(doc));
                }
            }
            let date = input.date.unwrap_or(today);
            // From a quotation: its customer, currency, tax and prices.
            let quotation = match input.quotation {
                None => None,
                Some(qid) => match read_doc(&tx, "quotation", qid, &scope, today)? {
                    None => return Ok(Err(not_found(format!("no quotation {qid}")))),
                    Some(q) => Some(q),
                },
            };
            if let Some(q) = &quotation {
                match QuoteStatus::parse(&q.status) {
                    Some(QuoteStatus::Sent | QuoteStatus::Accepted) => {}
                    _ => {
                        return Ok(Err(SalesRefusal::Conflict(format!(
                            "quotation {} is {}; an order is made from a sent quotation",
                            q.reference(),
                            q.status
                        ))));
                    }
                }
                if q.valid_until.is_some_and(|u| crate::crm::sales::expired(u, today)) {
                    return Ok(Err(SalesRefusal::Conflict(format!(
                        "quotation {} expired on {}; re-price it (POST /api/v1/quotations/{}/reprice makes a revision dated today) before ordering",
                        q.reference(),
                        q.valid_until.map(day).unwrap_or_default(),
                        q.id
                    ))));
                }
                if input.customer.as_ref().is_some_and(|c| *c != q.customer)
                    || input.currency.as_ref().is_some_and(|c| *c != q.currency)
                    || !input.lines.is_empty()
                {
                    return Ok(Err(SalesRefusal::Invalid(vec![
                        "an order from a quotation takes its customer, currency and lines from it; name quoted_lines for a part".into(),
                    ])));
                }
            }
            let code = match (&quotation, &input.customer) {
                (Some(q), _) => q.customer.clone(),
                (None, Some(c)) => c.clone(),
                (None, None) => {
                    return Ok(Err(SalesRefusal::Invalid(vec![
                        "customer: missing; expected a customer code, or a quotation".into(),
                    ])));
                }
            };
            let Some(customer) = customer_terms(&tx, &code, &scope)? else {
                return Ok(Err(not_found(format!("no customer {code:?}"))));
            };
            let tax_code = match &quotation {
                Some(q) => q.tax_code.clone(),
                None => input.tax_code.clone(),
            };
            let tax_pct = match tax_of(&tx, tax_code.as_deref(), date)? {
                Ok(t) => t,
                Err(r) => return Ok(Err(r)),
            };
            let (currency, lines, taken) = match &quotation {
                Some(q) => match order_lines_from_quotation(q, &input) {
                    Ok(picked) => {
                        if let Some(refusal) = obsolete_lines(
                            &tx,
                            picked.iter().map(|(ql, l)| (*ql, l.item.as_str())),
                        )? {
                            return Ok(Err(refusal));
                        }
                        let taken: Vec<(u32, Decimal)> =
                            picked.iter().map(|(ql, l)| (*ql, l.qty)).collect();
                        (q.currency.clone(), picked.into_iter().map(|(_, l)| l).collect(), taken)
                    }
                    Err(r) => return Ok(Err(r)),
                },
                None => {
                    if input.lines.is_empty() {
                        return Ok(Err(SalesRefusal::Invalid(vec![
                            "lines: none; expected at least one line".into(),
                        ])));
                    }
                    let currency = input.currency.clone().unwrap_or(customer.currency.clone());
                    match price_lines(&tx, &input.lines, &currency, &customer, date)? {
                        Ok(lines) => (currency, lines, Vec::new()),
                        Err(problems) => return Ok(Err(SalesRefusal::Invalid(problems))),
                    }
                }
            };
            let Some(totals) = doc_totals(&lines, tax_pct) else {
                return Ok(Err(SalesRefusal::Invalid(vec!["the totals are too large".into()])));
            };
            let header = |number: String| Header {
                kind: "order",
                number,
                revision: 1,
                replaces: None,
                customer: &customer,
                contact: quotation.as_ref().and_then(|q| q.contact),
                owner: &owner,
                currency: &currency,
                status: OrderStatus::Draft.as_str(),
                date,
                valid_until: None,
                quotation: quotation.as_ref().map(|q| q.id),
                customer_po: &input.customer_po,
                tax_code: tax_code.as_deref(),
                tax_pct,
                totals,
                note: &input.note,
            };
            let id = match id {
                Some(id) => {
                    let number: String = tx
                        .prepare_cached("SELECT number FROM crm_sales_docs WHERE id = ?1")?
                        .query_row(params![id], |r| r.get(0))?;
                    update_doc(&tx, id, &header(number), now)?;
                    resolve_flags(&tx, id, &by, now)?;
                    history(&tx, id, &by, "changed", json!({"lines": lines.len(), "gross": totals.gross}), now)?;
                    id
                }
                None => {
                    let number = next_number(&tx, "order")?;
                    let id = insert_doc(&tx, &header(number.clone()), &by, now)?;
                    history(
                        &tx,
                        id,
                        &by,
                        "created",
                        json!({"lines": lines.len(), "gross": totals.gross, "quotation": quotation.as_ref().map(SalesDoc::reference)}),
                        now,
                    )?;
                    if let Some(q) = &quotation {
                        for (line, qty) in &taken {
                            tx.prepare_cached(
                                "UPDATE crm_sales_lines SET ordered_qty = ?3 WHERE doc = ?1 AND line = ?2",
                            )?
                            .execute(params![
                                q.id,
                                line,
                                text(
                                    q.lines
                                        .iter()
                                        .find(|l| l.line == *line)
                                        .map_or(Decimal::ZERO, |l| l.ordered_qty)
                                        + *qty
                                )
                            ])?;
                        }
                        set_status(&tx, q.id, QuoteStatus::Accepted.as_str(), now)?;
                        history(
                            &tx,
                            q.id,
                            &by,
                            "ordered",
                            json!({"order": number, "lines": taken.iter().map(|(l, q)| json!({"line": l, "qty": q})).collect::<Vec<_>>()}),
                            now,
                        )?;
                    }
                    id
                }
            };
            write_lines(&tx, id, &lines)?;
            let doc = must_read(&tx, "order", id, today)?;
            tx.commit()?;
            Ok(Ok(doc))
        })
        .await
    }

    async fn order_action(
        &self,
        id: i64,
        action: OrderAction,
        by: String,
        scope: SalesScope,
        now: DateTime<Utc>,
    ) -> SalesResult<SalesDoc> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let today = now.date_naive();
            let Some(o) = read_doc(&tx, "order", id, &scope, today)? else {
                return Ok(Err(not_found(format!("no sales order {id}"))));
            };
            let status = OrderStatus::parse(&o.status)
                .ok_or_else(|| StoreError::Corrupt(format!("order status {:?}", o.status)))?;
            match action {
                OrderAction::Confirm => {
                    match confirm(&tx, &o, &by, now)? {
                        Ok(()) => {}
                        // What the refusal wrote (the refused check, the approval asked) stays.
                        Err(
                            r @ (SalesRefusal::Credit(_) | SalesRefusal::AwaitingApproval { .. }),
                        ) => {
                            tx.commit()?;
                            return Ok(Err(r));
                        }
                        Err(r) => return Ok(Err(r)),
                    }
                }
                OrderAction::Reprice => {
                    if status != OrderStatus::Draft {
                        return Ok(Err(SalesRefusal::Conflict(format!(
                            "sales order {} is {}: a confirmed order keeps its price",
                            o.number, o.status
                        ))));
                    }
                    let customer = terms_of_doc(&tx, &o)?;
                    let (lines, changes) = match repriced(&tx, &o, &customer, today)? {
                        Ok(r) => r,
                        Err(problems) => return Ok(Err(SalesRefusal::Invalid(problems))),
                    };
                    if let Err(r) = reprice_in_place(&tx, id, &lines, changes, o.tax_pct, &by, now)?
                    {
                        return Ok(Err(r));
                    }
                }
                OrderAction::Cancel { reason } => {
                    if !matches!(status, OrderStatus::Draft | OrderStatus::Confirmed) {
                        return Ok(Err(SalesRefusal::Conflict(format!(
                            "sales order {} is {}",
                            o.number, o.status
                        ))));
                    }
                    set_status(&tx, id, OrderStatus::Cancelled.as_str(), now)?;
                    resolve_flags(&tx, id, &by, now)?;
                    give_back(&tx, &o, now)?;
                    history(&tx, id, &by, "cancelled", json!({"reason": reason}), now)?;
                }
            }
            // A confirmed order is open on the docks; a cancelled one no longer (the
            // re-price of a draft changes neither). The API wakes their long polls.
            if o.status != must_read_status(&tx, id)? {
                super::deliveries::republish_shipping(&tx)?;
            }
            let doc = must_read(&tx, "order", id, today)?;
            tx.commit()?;
            Ok(Ok(doc))
        })
        .await
    }

    async fn sales_flags(&self, all: bool, scope: SalesScope) -> Result<Vec<Flag>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = Vec::new();
            let mut sql = format!(
                "SELECT {FLAG_COLUMNS} FROM crm_sales_flags f JOIN crm_sales_docs d ON d.id = f.doc WHERE 1 = 1"
            );
            if !all {
                sql.push_str(" AND f.resolved_at IS NULL");
            }
            sql.push_str(&scoped(&scope, "d.owner", &mut params));
            sql.push_str(&format!(" ORDER BY f.id DESC LIMIT {MAX_LIST}"));
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |r| Ok(flag_row(r)))?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn order_by_token(&self, token: String) -> Result<Option<SalesDoc>, StoreError> {
        self.read(move |conn| {
            let id: Option<i64> = conn
                .prepare_cached(
                    "SELECT id FROM crm_sales_docs WHERE token = ?1 AND kind = 'order'
                     AND status IN ('confirmed', 'completed')",
                )?
                .query_row(params![token], |r| r.get(0))
                .optional()?;
            match id {
                None => Ok(None),
                Some(id) => read_doc(conn, "order", id, &SalesScope::All, Utc::now().date_naive()),
            }
        })
        .await
    }

    async fn cockpit(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        currency: String,
        scope: SalesScope,
    ) -> Result<Cockpit, StoreError> {
        self.read(move |conn| {
            // Orders of the period in the scope, with their customer's region and industry.
            let mut params: Params = vec![Value::from(day(from)), Value::from(day(to))];
            let filter = scoped(&scope, "d.owner", &mut params);
            let sql = format!(
                "SELECT d.id, d.currency, d.net, d.customer, COALESCE(c.name_zh, ''),
                     COALESCE(c.name_en, ''), COALESCE(c.region, ''), COALESCE(c.industry, ''), d.owner
                 FROM crm_sales_docs d LEFT JOIN crm_customers c ON c.code = d.customer
                 WHERE d.kind = 'order' AND d.status IN ('confirmed', 'completed')
                     AND d.doc_date >= ?1 AND d.doc_date <= ?2{filter}"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows: Vec<(i64, String, String, String, String, String, String, String, String)> =
                stmt.query_map(params_from_iter(params), |r| {
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
                    ))
                })?
                .collect::<Result<_, _>>()?;
            type Sums = BTreeMap<String, (String, Decimal, u64)>;
            let add = |sums: &mut Sums, key: &str, name: &str, net: Decimal| {
                let entry = sums
                    .entry(key.to_owned())
                    .or_insert_with(|| (name.to_owned(), Decimal::ZERO, 0));
                entry.1 = entry.1.checked_add(net).unwrap_or(Decimal::MAX);
                entry.2 += 1;
            };
            let (mut region, mut industry, mut person, mut customers, mut items) =
                (Sums::new(), Sums::new(), Sums::new(), Sums::new(), Sums::new());
            let (mut orders, mut others, mut total) = (0u64, 0u64, Decimal::ZERO);
            let mut ids = Vec::new();
            for (id, cur, net, customer, zh, en, reg, ind, owner) in rows {
                if cur != currency {
                    others += 1;
                    continue;
                }
                let net = decimal(&net)?;
                orders += 1;
                total = total.checked_add(net).unwrap_or(Decimal::MAX);
                add(&mut region, &reg, "", net);
                add(&mut industry, &ind, "", net);
                add(&mut person, &owner, "", net);
                add(&mut customers, &customer, &customer_name(zh, en), net);
                ids.push(id);
            }
            for id in ids {
                for l in read_lines(conn, id)? {
                    add(&mut items, &l.item, &l.description, l.net);
                }
            }
            let ranked = |sums: Sums, limit: usize, named: bool| -> Vec<Share> {
                let mut out: Vec<Share> = sums
                    .into_iter()
                    .map(|(key, (name, net, orders))| Share {
                        key,
                        name: if named { name } else { String::new() },
                        net,
                        orders,
                    })
                    .collect();
                out.sort_by(|a, b| b.net.cmp(&a.net).then(a.key.cmp(&b.key)));
                out.truncate(limit);
                out
            };
            // Opportunities: won and lost in the period, and the open pipeline.
            let mut params: Params = Vec::new();
            let filter = scoped(&scope, "o.owner", &mut params);
            let sql = format!(
                "SELECT o.stage, o.amount, o.currency, o.probability, o.closed_at
                 FROM crm_opportunities o WHERE 1 = 1{filter}"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let opportunities: Vec<(String, String, String, i64, Option<String>)> = stmt
                .query_map(params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<Result<_, _>>()?;
            let (mut won, mut lost) = (0u64, 0u64);
            let (mut pipeline, mut weighted) = (Decimal::ZERO, Decimal::ZERO);
            for (stage, amount, cur, probability, closed_at) in opportunities {
                let closed_in = closed_at
                    .as_deref()
                    .and_then(|t| t.get(..10))
                    .is_some_and(|d| d >= day(from).as_str() && d <= day(to).as_str());
                match stage.as_str() {
                    "won" if closed_in => won += 1,
                    "lost" if closed_in => lost += 1,
                    "won" | "lost" => {}
                    _ if cur == currency => {
                        let amount = decimal(&amount)?;
                        pipeline = pipeline.checked_add(amount).unwrap_or(Decimal::MAX);
                        let part = amount
                            .checked_mul(Decimal::from(probability))
                            .and_then(|a| a.checked_div(Decimal::ONE_HUNDRED))
                            .map(crate::crm::sales::cents)
                            .unwrap_or(Decimal::ZERO);
                        weighted = weighted.checked_add(part).unwrap_or(Decimal::MAX);
                    }
                    _ => {}
                }
            }
            let win_rate_pct = (won + lost > 0).then(|| {
                (Decimal::from(won) * Decimal::ONE_HUNDRED / Decimal::from(won + lost)).round_dp(1)
            });
            Ok(Cockpit {
                from,
                to,
                currency,
                orders,
                net: total,
                other_currency_orders: others,
                by_region: ranked(region, 50, false),
                by_industry: ranked(industry, 50, false),
                by_item: ranked(items, 50, true),
                by_salesperson: ranked(person, 50, false),
                top_customers: ranked(customers, 10, true),
                won,
                lost,
                win_rate_pct,
                pipeline,
                weighted_pipeline: weighted,
            })
        })
        .await
    }

    async fn order_token(&self, id: i64, scope: SalesScope) -> Result<Option<String>, StoreError> {
        self.read(move |conn| {
            let mut params: Params = vec![Value::from(id)];
            let filter = scoped(&scope, "owner", &mut params);
            let sql = format!(
                "SELECT token FROM crm_sales_docs WHERE id = ?1 AND kind = 'order'
                 AND status IN ('confirmed', 'completed'){filter}"
            );
            let token: Option<Option<String>> = conn
                .prepare_cached(&sql)?
                .query_row(params_from_iter(params), |r| r.get(0))
                .optional()?;
            Ok(token.flatten())
        })
        .await
    }
}

/// What `mes bench crm` puts in a store before it measures (not for anything else).
#[derive(Debug, Clone)]
pub struct BenchFill {
    /// Customers `C000001`, ..., named from a list of words in both languages.
    pub customers: usize,
    /// The salespeople who own them, in turn.
    pub owners: Vec<String>,
    /// Confirmed orders, `lines` lines each of `items` in turn, customers in turn.
    pub orders: usize,
    pub lines: usize,
    pub items: Vec<String>,
    /// Sent quotations of one line of `quoted_item` (at `quoted_price`), for flagging.
    pub quotations: usize,
    pub quoted_item: String,
    pub quoted_price: Decimal,
}

/// The words customers of the bench are named from.
const BENCH_WORDS: &[(&str, &str)] = &[
    ("精密", "Precision"),
    ("电子", "Electronics"),
    ("机械", "Machinery"),
    ("汽车配件", "Auto Parts"),
    ("塑料", "Plastics"),
    ("五金", "Hardware"),
    ("电机", "Motors"),
    ("自行车", "Bicycles"),
    ("医疗器械", "Medical Devices"),
    ("家电", "Appliances"),
    ("光伏", "Solar"),
    ("包装", "Packaging"),
];

const BENCH_CITIES: &[(&str, &str)] = &[
    ("深圳", "Shenzhen"),
    ("苏州", "Suzhou"),
    ("宁波", "Ningbo"),
    ("东莞", "Dongguan"),
    ("佛山", "Foshan"),
    ("天津", "Tianjin"),
    ("重庆", "Chongqing"),
];

impl SqlStore {
    /// Fills the CRM for `mes bench crm` in one unaudited transaction per kind, through the
    /// same row writers the API's writes use (customers' keys and search text, documents'
    /// search text): a store as 100k customers and 1M order lines leave it, in seconds.
    pub async fn fill_for_bench(&self, fill: BenchFill) -> Result<(), StoreError> {
        self.write_on(false, move |conn| {
            let now = Utc::now();
            let today = now.date_naive();
            let stamp = ts(now);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut terms = Vec::with_capacity(fill.customers);
            for n in 0..fill.customers {
                let (word_zh, word_en) = BENCH_WORDS[n % BENCH_WORDS.len()];
                let (city_zh, city_en) = BENCH_CITIES[(n / BENCH_WORDS.len()) % BENCH_CITIES.len()];
                let code = crate::crm::customers::generated_code(n as u64 + 1);
                let input = crate::crm::customers::CustomerInput {
                    name_zh: format!("{city_zh}{word_zh}{n}有限公司"),
                    name_en: format!("{city_en} {word_en} {n} Co., Ltd."),
                    industry: word_en.to_lowercase(),
                    region: city_en.to_owned(),
                    currency: "CNY".into(),
                    customer_group: if n % 5 == 0 {
                        "OEM".into()
                    } else {
                        String::new()
                    },
                    ..Default::default()
                };
                let owner = &fill.owners[n % fill.owners.len().max(1)];
                super::crm::write_customer(&tx, &code, &input, owner, &stamp, true)?;
                terms.push((
                    CustomerTerms {
                        names: format!("{} {}", input.name_zh, input.name_en),
                        code,
                        currency: "CNY".into(),
                        group: None,
                        credit_limit: None,
                    },
                    owner.clone(),
                ));
            }
            tx.execute(
                "INSERT INTO crm_counters (name, value) VALUES ('customer', ?1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![i64::try_from(fill.customers).unwrap_or(i64::MAX)],
            )?;
            tx.commit()?;
            let line = |n: u32, item: &str, price: Decimal| SalesLine {
                line: n,
                item: item.to_owned(),
                description: item.to_owned(),
                qty: Decimal::from(10),
                uom: "ea".into(),
                list_price: Some(price),
                price_source: "list".into(),
                unit_price: price,
                discount_pct: Decimal::ZERO,
                net: price * Decimal::from(10),
                requested_date: Some(today),
                ordered_qty: Decimal::ZERO,
                quotation_line: None,
                confirmed_date: Some(today),
                limit: Some(Limit::Stock),
                promise: None,
                shipped_qty: Decimal::ZERO,
                work_orders: Vec::new(),
                good: 0,
                scrap: 0,
                projected_date: None,
                late_risk: None,
            };
            for (kind, count) in [("order", fill.orders), ("quotation", fill.quotations)] {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                for n in 0..count {
                    let (customer, owner) = &terms[n % terms.len().max(1)];
                    let lines: Vec<SalesLine> = if kind == "order" {
                        (0..fill.lines)
                            .map(|l| {
                                let item = &fill.items[(n + l) % fill.items.len().max(1)];
                                line(l as u32 + 1, item, Decimal::from(100))
                            })
                            .collect()
                    } else {
                        vec![line(1, &fill.quoted_item, fill.quoted_price)]
                    };
                    let totals = doc_totals(&lines, Decimal::ZERO)
                        .ok_or_else(|| StoreError::Corrupt("bench totals".into()))?;
                    let prefix = if kind == "order" { "SO" } else { "Q" };
                    let id = insert_doc(
                        &tx,
                        &Header {
                            kind,
                            number: format!("{prefix}{:06}", n + 1),
                            revision: 1,
                            replaces: None,
                            customer,
                            contact: None,
                            owner,
                            currency: "CNY",
                            status: if kind == "order" { "confirmed" } else { "sent" },
                            date: today,
                            valid_until: (kind == "quotation")
                                .then(|| today + chrono::Days::new(30)),
                            quotation: None,
                            customer_po: &format!("PO-{n}"),
                            tax_code: None,
                            tax_pct: Decimal::ZERO,
                            totals,
                            note: "",
                        },
                        "bench",
                        now,
                    )?;
                    write_lines(&tx, id, &lines)?;
                }
                tx.execute(
                    "INSERT INTO crm_counters (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    params![kind, i64::try_from(count).unwrap_or(i64::MAX)],
                )?;
                tx.commit()?;
            }
            Ok(())
        })
        .await
    }
}

//! [`ErpStore`] on SQLite. Quantities are stored as decimal text, so nothing is rounded.

use super::{SqliteStore, StoreError};
use crate::erp::calendar::CalendarSpec;
use crate::erp::import::{ImportBatch, RowError};
use crate::erp::mrp::{BomLine, Dated, Item, ItemKind, LotSizeRule, OnHand, find_bom_cycle};
use crate::store::erp::{ErpStore, ImportSummary, MasterData};
use async_trait::async_trait;
use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS erp_items (
    item           TEXT PRIMARY KEY,
    description    TEXT NOT NULL,
    kind           TEXT NOT NULL,
    uom            TEXT NOT NULL,
    lead_time_days INTEGER NOT NULL,
    lot_size_rule  TEXT NOT NULL,
    lot_size_qty   TEXT NOT NULL,
    safety_stock   TEXT NOT NULL,
    scrap_pct      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erp_bom_lines (
    parent    TEXT NOT NULL,
    component TEXT NOT NULL,
    qty_per   TEXT NOT NULL,
    scrap_pct TEXT NOT NULL,
    PRIMARY KEY (parent, component)
);
CREATE TABLE IF NOT EXISTS erp_inventory (
    item     TEXT NOT NULL,
    lot      TEXT NOT NULL,
    location TEXT NOT NULL,
    qty      TEXT NOT NULL,
    PRIMARY KEY (item, lot, location)
);
CREATE TABLE IF NOT EXISTS erp_demands (
    reference TEXT PRIMARY KEY,
    item      TEXT NOT NULL,
    qty       TEXT NOT NULL,
    due_date  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erp_receipts (
    reference TEXT PRIMARY KEY,
    item      TEXT NOT NULL,
    qty       TEXT NOT NULL,
    due_date  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erp_calendar (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL
);
";

fn decimal(text: &str) -> Result<Decimal, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("quantity {text:?}: {e}")))
}

fn date(text: &str) -> Result<NaiveDate, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("date {text:?}: {e}")))
}

/// Item id → kind, for the referential checks of an import.
fn item_kinds(tx: &Transaction<'_>) -> Result<HashMap<String, String>, StoreError> {
    let mut stmt = tx.prepare("SELECT item, kind FROM erp_items")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn unknown_item(line: u64, column: &str, item: &str) -> RowError {
    RowError::new(
        line,
        column,
        format!(
            "item {item:?} is not in the item master; expected an item imported with post /api/v1/import/items first"
        ),
    )
}

fn apply(tx: &Transaction<'_>, batch: &ImportBatch) -> Result<Vec<RowError>, StoreError> {
    let mut errors = Vec::new();
    match batch {
        ImportBatch::Items(rows) => {
            let mut upsert = tx.prepare(
                "INSERT INTO erp_items (item, description, kind, uom, lead_time_days,
                     lot_size_rule, lot_size_qty, safety_stock, scrap_pct)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (item) DO UPDATE SET description = excluded.description,
                     kind = excluded.kind, uom = excluded.uom,
                     lead_time_days = excluded.lead_time_days,
                     lot_size_rule = excluded.lot_size_rule, lot_size_qty = excluded.lot_size_qty,
                     safety_stock = excluded.safety_stock, scrap_pct = excluded.scrap_pct",
            )?;
            for row in rows {
                let r = &row.row;
                upsert.execute(params![
                    r.item.item,
                    r.description,
                    r.item.kind.as_str(),
                    r.uom,
                    r.item.lead_time_days,
                    r.item.lot_size_rule.as_str(),
                    r.item.lot_size_qty.to_string(),
                    r.item.safety_stock.to_string(),
                    r.item.scrap_pct.to_string(),
                ])?;
            }
        }
        ImportBatch::Boms(rows) => {
            let kinds = item_kinds(tx)?;
            for row in rows {
                let line = &row.row;
                match kinds.get(&line.parent) {
                    None => errors.push(unknown_item(row.line, "parent", &line.parent)),
                    Some(kind) if kind != ItemKind::Make.as_str() => errors.push(RowError::new(
                        row.line,
                        "parent",
                        format!(
                            "parent {:?} is a buy item; expected a make item",
                            line.parent
                        ),
                    )),
                    Some(_) => {}
                }
                if !kinds.contains_key(&line.component) {
                    errors.push(unknown_item(row.line, "component", &line.component));
                }
            }
            if !errors.is_empty() {
                return Ok(errors);
            }
            let parents: HashSet<&str> = rows.iter().map(|r| r.row.parent.as_str()).collect();
            let mut delete = tx.prepare("DELETE FROM erp_bom_lines WHERE parent = ?1")?;
            for parent in &parents {
                delete.execute(params![parent])?;
            }
            let mut insert = tx.prepare(
                "INSERT INTO erp_bom_lines (parent, component, qty_per, scrap_pct)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for row in rows {
                let l = &row.row;
                insert.execute(params![
                    l.parent,
                    l.component,
                    l.qty_per.to_string(),
                    l.scrap_pct.to_string()
                ])?;
            }
            let edges = read_edges(tx)?;
            if let Some(cycle) = find_bom_cycle(edges.iter().map(|(p, c)| (p.as_str(), c.as_str())))
            {
                let on_cycle: HashSet<(&str, &str)> = cycle
                    .windows(2)
                    .map(|w| (w[0].as_str(), w[1].as_str()))
                    .collect();
                let line = rows
                    .iter()
                    .find(|r| on_cycle.contains(&(r.row.parent.as_str(), r.row.component.as_str())))
                    .map_or(1, |r| r.line);
                errors.push(RowError::new(
                    line,
                    "component",
                    format!(
                        "this line closes the bom cycle {}; expected a bom without cycles",
                        cycle.join(" -> ")
                    ),
                ));
            }
        }
        ImportBatch::Inventory(rows) => {
            let kinds = item_kinds(tx)?;
            let mut upsert = tx.prepare(
                "INSERT INTO erp_inventory (item, lot, location, qty) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (item, lot, location) DO UPDATE SET qty = excluded.qty",
            )?;
            let mut delete = tx.prepare(
                "DELETE FROM erp_inventory WHERE item = ?1 AND lot = ?2 AND location = ?3",
            )?;
            for row in rows {
                let r = &row.row;
                if !kinds.contains_key(&r.item) {
                    errors.push(unknown_item(row.line, "item", &r.item));
                } else if r.qty.is_zero() {
                    delete.execute(params![r.item, r.lot, r.location])?;
                } else {
                    upsert.execute(params![r.item, r.lot, r.location, r.qty.to_string()])?;
                }
            }
        }
        ImportBatch::Demands(rows) | ImportBatch::Receipts(rows) => {
            let table = if matches!(batch, ImportBatch::Demands(_)) {
                "erp_demands"
            } else {
                "erp_receipts"
            };
            let kinds = item_kinds(tx)?;
            let mut upsert = tx.prepare(&format!(
                "INSERT INTO {table} (reference, item, qty, due_date) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (reference) DO UPDATE SET item = excluded.item, qty = excluded.qty,
                     due_date = excluded.due_date"
            ))?;
            let mut delete = tx.prepare(&format!("DELETE FROM {table} WHERE reference = ?1"))?;
            for row in rows {
                let r = &row.row;
                if !kinds.contains_key(&r.item) {
                    errors.push(unknown_item(row.line, "item", &r.item));
                } else if r.qty.is_zero() {
                    delete.execute(params![r.reference])?;
                } else {
                    upsert.execute(params![
                        r.reference,
                        r.item,
                        r.qty.to_string(),
                        r.due.to_string()
                    ])?;
                }
            }
        }
    }
    Ok(errors)
}

fn read_edges(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare("SELECT parent, component FROM erp_bom_lines")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn read_calendar(conn: &Connection) -> Result<CalendarSpec, StoreError> {
    let body: Option<String> = conn
        .query_row("SELECT body FROM erp_calendar WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(match body {
        Some(body) => serde_json::from_str(&body)?,
        None => CalendarSpec::default(),
    })
}

fn read_dated(conn: &Connection, table: &str) -> Result<Vec<Dated>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT reference, item, qty, due_date FROM {table} ORDER BY reference"
    ))?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (reference, item, qty, due) = row?;
        out.push(Dated {
            item,
            qty: decimal(&qty)?,
            due: date(&due)?,
            reference,
        });
    }
    Ok(out)
}

fn read_master_data(conn: &mut Connection) -> Result<MasterData, StoreError> {
    let tx = conn.transaction()?;
    let mut items = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT item, kind, lead_time_days, lot_size_rule, lot_size_qty, safety_stock, scrap_pct
             FROM erp_items ORDER BY item",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        for row in rows {
            let (item, kind, lead_time_days, rule, lot_qty, safety, scrap) = row?;
            items.push(Item {
                kind: ItemKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("item kind {kind:?}")))?,
                lead_time_days,
                lot_size_rule: LotSizeRule::parse(&rule)
                    .ok_or_else(|| StoreError::Corrupt(format!("lot size rule {rule:?}")))?,
                lot_size_qty: decimal(&lot_qty)?,
                safety_stock: decimal(&safety)?,
                scrap_pct: decimal(&scrap)?,
                item,
            });
        }
    }
    let mut bom = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT parent, component, qty_per, scrap_pct FROM erp_bom_lines
             ORDER BY parent, component",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        for row in rows {
            let (parent, component, qty_per, scrap) = row?;
            bom.push(BomLine {
                parent,
                component,
                qty_per: decimal(&qty_per)?,
                scrap_pct: decimal(&scrap)?,
            });
        }
    }
    let mut on_hand: BTreeMap<String, Decimal> = BTreeMap::new();
    {
        let mut stmt = tx.prepare("SELECT item, qty FROM erp_inventory")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (item, qty) = row?;
            let qty = decimal(&qty)?;
            let sum = on_hand.entry(item).or_default();
            *sum = sum
                .checked_add(qty)
                .ok_or_else(|| StoreError::Corrupt("on-hand sum overflows".into()))?;
        }
    }
    let demands = read_dated(&tx, "erp_demands")?;
    let receipts = read_dated(&tx, "erp_receipts")?;
    let calendar = read_calendar(&tx)?;
    tx.finish()?;
    Ok(MasterData {
        items,
        bom,
        on_hand: on_hand
            .into_iter()
            .map(|(item, qty)| OnHand { item, qty })
            .collect(),
        demands,
        receipts,
        calendar,
    })
}

#[async_trait]
impl ErpStore for SqliteStore {
    async fn import(
        &self,
        batch: ImportBatch,
    ) -> Result<Result<ImportSummary, Vec<RowError>>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut errors = apply(&tx, &batch)?;
            if !errors.is_empty() {
                // Dropping the transaction rolls it back: all or nothing.
                errors.sort_by_key(|e| e.line);
                return Ok(Err(errors));
            }
            tx.commit()?;
            Ok(Ok(ImportSummary {
                kind: batch.kind(),
                rows: batch.len(),
            }))
        })
        .await
    }

    async fn master_data(&self) -> Result<MasterData, StoreError> {
        self.read(read_master_data).await
    }

    async fn calendar(&self) -> Result<CalendarSpec, StoreError> {
        self.read(|conn| read_calendar(conn)).await
    }

    async fn set_calendar(&self, calendar: CalendarSpec) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO erp_calendar (id, body) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![serde_json::to_string(&calendar)?],
            )?;
            Ok(())
        })
        .await
    }
}

//! [`ErpStore`] on SQLite. Quantities are stored as decimal text, so nothing is rounded.
//!
//! Quantities are stored in the item's base unit; a row given in another unit is converted
//! when written ([`crate::erp::uom`]). BOMs are revisions (`erp_bom_revisions`,
//! `erp_bom_rev_lines`): a released revision is never updated. What schema 3 had in
//! `erp_bom_lines` (one unrevised BOM per parent) becomes released revision A, effective since
//! 1970-01-01, the first time this build opens the file; the attributes added since schema 3
//! (tracking, shelf life, phantom) live in `erp_item_details`, and GTINs in `erp_item_gtins`
//! (`UNIQUE`, so no two items share one), and an obsolete item's date and successor in
//! `erp_item_obsolete`, so that an older file needs no `ALTER TABLE`.

use super::db::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use super::{SqlStore, StoreError};
use crate::erp::calendar::CalendarSpec;
use crate::erp::import::{ImportBatch, RowError};
use crate::erp::master_data::{
    BomRevision, ItemDetails, Location, Obsolete, RevisionInput, RevisionLine, RevisionLineInput,
    RevisionStatus, Supplier, SupplierTerms, Tracking, Warehouse, effective_revision,
    revision_letters,
};
use crate::erp::mrp::{
    BomLine, Dated, Item, ItemKind, LotSizeRule, OnHand, SupplierItem, find_bom_cycle,
};
use crate::erp::uom::{UomConversion, to_base};
use crate::store::erp::{
    ErpResult, ErpStore, ImportSummary, ItemMaster, MasterData, Rejection, RevisionMade,
};
use async_trait::async_trait;
use chrono::NaiveDate;
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
CREATE TABLE IF NOT EXISTS erp_item_details (
    item            TEXT PRIMARY KEY,
    tracking        TEXT NOT NULL,
    shelf_life_days INTEGER,
    phantom         INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS erp_item_gtins (
    item TEXT PRIMARY KEY,
    gtin TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS erp_item_obsolete (
    item        TEXT PRIMARY KEY,
    since       TEXT NOT NULL,
    replaced_by TEXT
);
CREATE TABLE IF NOT EXISTS erp_uom_conversions (
    item     TEXT NOT NULL,
    from_uom TEXT NOT NULL,
    to_uom   TEXT NOT NULL,
    factor   TEXT NOT NULL,
    PRIMARY KEY (item, from_uom, to_uom)
);
CREATE TABLE IF NOT EXISTS erp_bom_revisions (
    parent         TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    revision       TEXT NOT NULL,
    status         TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    effective_to   TEXT,
    PRIMARY KEY (parent, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS erp_bom_revisions_letter ON erp_bom_revisions (parent, revision);
CREATE TABLE IF NOT EXISTS erp_bom_rev_lines (
    parent          TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    component       TEXT NOT NULL,
    qty_per         TEXT NOT NULL,
    scrap_pct       TEXT NOT NULL,
    entered_uom     TEXT,
    entered_qty_per TEXT,
    PRIMARY KEY (parent, seq, component)
);
CREATE INDEX IF NOT EXISTS erp_bom_rev_lines_component ON erp_bom_rev_lines (component);
CREATE TABLE IF NOT EXISTS erp_bom_lines (
    parent    TEXT NOT NULL,
    component TEXT NOT NULL,
    qty_per   TEXT NOT NULL,
    scrap_pct TEXT NOT NULL,
    PRIMARY KEY (parent, component)
);
INSERT INTO erp_bom_revisions (parent, seq, revision, status, effective_from, effective_to)
    SELECT DISTINCT parent, 1, 'A', 'released', '1970-01-01', NULL FROM erp_bom_lines WHERE true
    ON CONFLICT DO NOTHING;
INSERT INTO erp_bom_rev_lines (parent, seq, component, qty_per, scrap_pct)
    SELECT parent, 1, component, qty_per, scrap_pct FROM erp_bom_lines WHERE true
    ON CONFLICT DO NOTHING;
DELETE FROM erp_bom_lines;
CREATE TABLE IF NOT EXISTS erp_warehouses (
    warehouse   TEXT PRIMARY KEY,
    description TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erp_locations (
    location    TEXT PRIMARY KEY,
    warehouse   TEXT NOT NULL,
    description TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erp_suppliers (
    supplier TEXT PRIMARY KEY,
    name     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erp_supplier_items (
    supplier       TEXT NOT NULL,
    item           TEXT NOT NULL,
    lead_time_days INTEGER NOT NULL,
    price          TEXT NOT NULL,
    preferred      INTEGER NOT NULL,
    PRIMARY KEY (supplier, item)
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

/// `effective_from` of a revision that has always been in effect: a parent's first BOM
/// imported from CSV, and the BOMs of schema 3 (see the SQL above).
const SINCE_ALWAYS: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

fn decimal(text: &str) -> Result<Decimal, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("quantity {text:?}: {e}")))
}

fn date(text: &str) -> Result<NaiveDate, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("date {text:?}: {e}")))
}

/// What the referential checks of an import need of an item.
struct ItemInfo {
    kind: ItemKind,
    uom: String,
    phantom: bool,
    tracking: Tracking,
}

fn item_infos(conn: &Connection) -> Result<HashMap<String, ItemInfo>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT i.item, i.kind, i.uom, COALESCE(d.phantom, 0), COALESCE(d.tracking, 'none')
         FROM erp_items i LEFT JOIN erp_item_details d ON d.item = i.item",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, bool>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (item, kind, uom, phantom, tracking) = row?;
        out.insert(
            item,
            ItemInfo {
                kind: parse_kind(&kind)?,
                uom,
                phantom,
                tracking: Tracking::parse(&tracking)
                    .ok_or_else(|| StoreError::Corrupt(format!("tracking {tracking:?}")))?,
            },
        );
    }
    Ok(out)
}

fn parse_kind(kind: &str) -> Result<ItemKind, StoreError> {
    ItemKind::parse(kind).ok_or_else(|| StoreError::Corrupt(format!("item kind {kind:?}")))
}

/// Item → its conversions.
fn all_conversions(conn: &Connection) -> Result<HashMap<String, Vec<UomConversion>>, StoreError> {
    read_conversions(conn, None)
}

/// One item's conversions.
pub(super) fn item_conversions(
    conn: &Connection,
    item: &str,
) -> Result<Vec<UomConversion>, StoreError> {
    Ok(read_conversions(conn, Some(item))?
        .remove(item)
        .unwrap_or_default())
}

/// Item → its conversions, of every item or only `only`.
fn read_conversions(
    conn: &Connection,
    only: Option<&str>,
) -> Result<HashMap<String, Vec<UomConversion>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT item, from_uom, to_uom, factor FROM erp_uom_conversions
         WHERE CAST(?1 AS TEXT) IS NULL OR item = ?1 ORDER BY item, from_uom, to_uom",
    )?;
    let rows = stmt.query_map(params![only], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out: HashMap<String, Vec<UomConversion>> = HashMap::new();
    for row in rows {
        let (item, from_uom, to_uom, factor) = row?;
        out.entry(item).or_default().push(UomConversion {
            from_uom,
            to_uom,
            factor: decimal(&factor)?,
        });
    }
    Ok(out)
}

/// `qty` of a known `item` in `uom` (empty: base) in the item's base unit.
fn base_qty(
    info: &ItemInfo,
    conversions: &HashMap<String, Vec<UomConversion>>,
    item: &str,
    uom: &str,
    qty: Decimal,
) -> Result<Decimal, String> {
    let none = Vec::new();
    let convs = conversions.get(item).unwrap_or(&none);
    to_base(item, convs, &info.uom, uom, qty).map_err(|e| e.to_string())
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

fn exists(conn: &Connection, sql: &str, key: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params![key], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Why an item may not be a phantom, if it may not.
fn phantom_refusal(
    conn: &Connection,
    item: &str,
    kind: ItemKind,
) -> Result<Option<String>, StoreError> {
    if kind != ItemKind::Make {
        return Ok(Some(format!(
            "item {item:?} is a buy item and cannot be a phantom; expected phantom false or kind make"
        )));
    }
    if super::stock::item_has_stock(conn, item)? {
        return Ok(Some(format!(
            "item {item:?} has stock and cannot be a phantom (a phantom is never stocked); expected its inventory set to 0 first"
        )));
    }
    if exists(conn, "SELECT 1 FROM erp_receipts WHERE item = ?1", item)? {
        return Ok(Some(format!(
            "item {item:?} has scheduled receipts and cannot be a phantom (a phantom is never planned); expected its receipts removed first"
        )));
    }
    Ok(None)
}

/// Why an item's base unit may not change to `uom`, if it may not: stored quantities (stock,
/// demands, receipts, BOM lines) are in the old unit and would silently change meaning.
fn uom_change_refusal(
    conn: &Connection,
    item: &str,
    uom: &str,
) -> Result<Option<String>, StoreError> {
    let old: Option<String> = conn
        .prepare_cached("SELECT uom FROM erp_items WHERE item = ?1")?
        .query_row(params![item], |r| r.get(0))
        .optional()?;
    let Some(old) = old.filter(|old| old != uom) else {
        return Ok(None);
    };
    if super::stock::item_has_stock(conn, item)? {
        return Ok(Some(format!(
            "item {item:?} has stock in {old}; its unit cannot change to {uom} (the stock would change meaning)"
        )));
    }
    for (sql, what) in [
        ("SELECT 1 FROM erp_demands WHERE item = ?1", "demands"),
        (
            "SELECT 1 FROM erp_receipts WHERE item = ?1",
            "scheduled receipts",
        ),
        (
            "SELECT 1 FROM erp_bom_rev_lines WHERE component = ?1",
            "bom lines",
        ),
    ] {
        if exists(conn, sql, item)? {
            return Ok(Some(format!(
                "item {item:?} has {what} in its base unit {old:?}; expected uom {old:?} (changing it would change what the stored quantities mean)"
            )));
        }
    }
    Ok(None)
}

fn read_details(conn: &Connection, item: &str) -> Result<ItemDetails, StoreError> {
    let row: Option<(String, Option<u32>, bool)> = conn
        .prepare_cached(
            "SELECT tracking, shelf_life_days, phantom FROM erp_item_details WHERE item = ?1",
        )?
        .query_row(params![item], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let gtin: Option<String> = conn
        .prepare_cached("SELECT gtin FROM erp_item_gtins WHERE item = ?1")?
        .query_row(params![item], |r| r.get(0))
        .optional()?;
    let obsolete = read_obsolete(conn, item)?;
    Ok(match row {
        None => ItemDetails {
            gtin,
            obsolete,
            ..ItemDetails::default()
        },
        Some((tracking, shelf_life_days, phantom)) => ItemDetails {
            tracking: Tracking::parse(&tracking)
                .ok_or_else(|| StoreError::Corrupt(format!("tracking {tracking:?}")))?,
            shelf_life_days,
            phantom,
            gtin,
            obsolete,
        },
    })
}

/// Whether `item` is obsolete, since when and replaced by what.
pub(super) fn read_obsolete(conn: &Connection, item: &str) -> Result<Option<Obsolete>, StoreError> {
    let row: Option<(String, Option<String>)> = conn
        .prepare_cached("SELECT since, replaced_by FROM erp_item_obsolete WHERE item = ?1")?
        .query_row(params![item], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(since, replaced_by)| {
        Ok(Obsolete {
            since: NaiveDate::parse_from_str(&since, "%Y-%m-%d")
                .map_err(|e| StoreError::Corrupt(format!("obsolete since {since:?}: {e}")))?,
            replaced_by,
        })
    })
    .transpose()
}

/// Writes whether `item` is obsolete. Made obsolete now: every open quotation and draft order
/// line of it is flagged and its owners told; back in sale: those flags are resolved. The
/// date it became obsolete is kept while it stays obsolete.
fn write_obsolete(
    conn: &Connection,
    item: &str,
    obsolete: Option<&Obsolete>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    let before = read_obsolete(conn, item)?;
    match (before, obsolete) {
        (None, None) => {}
        (Some(_), None) => {
            conn.prepare_cached("DELETE FROM erp_item_obsolete WHERE item = ?1")?
                .execute(params![item])?;
            super::sales::resolve_item_flags(conn, item, "obsolete", now)?;
        }
        (before, Some(o)) => {
            let since = before.as_ref().map_or(o.since, |b| b.since);
            conn.prepare_cached(
                "INSERT INTO erp_item_obsolete (item, since, replaced_by) VALUES (?1, ?2, ?3)
                 ON CONFLICT (item) DO UPDATE SET replaced_by = excluded.replaced_by",
            )?
            .execute(params![item, since.to_string(), o.replaced_by])?;
            if before.is_none() {
                let now_obsolete = Obsolete {
                    since,
                    replaced_by: o.replaced_by.clone(),
                };
                super::sales::flag_item_changed(
                    conn,
                    item,
                    "obsolete",
                    &format!("item {item} is {}", now_obsolete.describe()),
                    now,
                )?;
            }
        }
    }
    Ok(())
}

/// Why `item` may not have `gtin`, if it may not: another item has it (a scanned GTIN must
/// name one item).
fn gtin_refusal(
    conn: &Connection,
    item: &str,
    gtin: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let Some(gtin) = gtin else {
        return Ok(None);
    };
    let owner: Option<String> = conn
        .prepare_cached("SELECT item FROM erp_item_gtins WHERE gtin = ?1 AND item <> ?2")?
        .query_row(params![gtin, item], |r| r.get(0))
        .optional()?;
    Ok(owner.map(|owner| {
        format!("gtin {gtin} is already item {owner:?}'s; expected a GTIN no other item has")
    }))
}

fn write_details(conn: &Connection, item: &str, d: &ItemDetails) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO erp_item_details (item, tracking, shelf_life_days, phantom)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (item) DO UPDATE SET tracking = excluded.tracking,
             shelf_life_days = excluded.shelf_life_days, phantom = excluded.phantom",
    )?
    .execute(params![
        item,
        d.tracking.as_str(),
        d.shelf_life_days,
        d.phantom
    ])?;
    match &d.gtin {
        Some(gtin) => conn
            .prepare_cached(
                "INSERT INTO erp_item_gtins (item, gtin) VALUES (?1, ?2)
                 ON CONFLICT (item) DO UPDATE SET gtin = excluded.gtin",
            )?
            .execute(params![item, gtin])?,
        None => conn
            .prepare_cached("DELETE FROM erp_item_gtins WHERE item = ?1")?
            .execute(params![item])?,
    };
    write_obsolete(conn, item, d.obsolete.as_ref(), chrono::Utc::now())
}

fn upsert_item(conn: &Connection, r: &ItemMaster) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO erp_items (item, description, kind, uom, lead_time_days,
             lot_size_rule, lot_size_qty, safety_stock, scrap_pct)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (item) DO UPDATE SET description = excluded.description,
             kind = excluded.kind, uom = excluded.uom,
             lead_time_days = excluded.lead_time_days,
             lot_size_rule = excluded.lot_size_rule, lot_size_qty = excluded.lot_size_qty,
             safety_stock = excluded.safety_stock, scrap_pct = excluded.scrap_pct",
    )?
    .execute(params![
        r.item,
        r.description,
        r.kind.as_str(),
        r.uom,
        r.lead_time_days,
        r.lot_size_rule.as_str(),
        r.lot_size_qty.to_string(),
        r.safety_stock.to_string(),
        r.scrap_pct.to_string(),
    ])?;
    write_details(conn, &r.item, &r.details)
}

/// `component, qty_per, scrap_pct, entered_uom, entered_qty_per` as stored.
type StoredLine = (String, String, String, Option<String>, Option<String>);
/// `item, description, kind, uom, lead_time_days, lot_size_rule, lot_size_qty,
/// safety_stock, scrap_pct` as stored.
type StoredItem = (
    String,
    String,
    String,
    String,
    u32,
    String,
    String,
    String,
    String,
);

/// A parent's revisions with their sequence numbers, oldest first.
fn read_revisions(conn: &Connection, parent: &str) -> Result<Vec<(i64, BomRevision)>, StoreError> {
    let heads: Vec<(i64, String, String, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT seq, revision, status, effective_from, effective_to FROM erp_bom_revisions
             WHERE parent = ?1 ORDER BY seq",
        )?
        .query_map(params![parent], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(heads.len());
    let mut lines_of = conn.prepare_cached(
        "SELECT component, qty_per, scrap_pct, entered_uom, entered_qty_per FROM erp_bom_rev_lines
         WHERE parent = ?1 AND seq = ?2 ORDER BY component",
    )?;
    for (seq, revision, status, from, to) in heads {
        let rows: Vec<StoredLine> = lines_of
            .query_map(params![parent, seq], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut lines = Vec::with_capacity(rows.len());
        for (component, qty_per, scrap, entered_uom, entered_qty) in rows {
            lines.push(RevisionLine {
                component,
                qty_per: decimal(&qty_per)?,
                scrap_pct: decimal(&scrap)?,
                entered_uom,
                entered_qty_per: entered_qty.as_deref().map(decimal).transpose()?,
            });
        }
        out.push((
            seq,
            BomRevision {
                parent: parent.to_owned(),
                revision,
                status: RevisionStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("revision status {status:?}")))?,
                effective_from: date(&from)?,
                effective_to: to.as_deref().map(date).transpose()?,
                lines,
            },
        ));
    }
    Ok(out)
}

fn write_revision(conn: &Connection, seq: i64, rev: &BomRevision) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO erp_bom_revisions (parent, seq, revision, status, effective_from, effective_to)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (parent, seq) DO UPDATE SET status = excluded.status,
             effective_from = excluded.effective_from, effective_to = excluded.effective_to",
    )?
    .execute(params![
        rev.parent,
        seq,
        rev.revision,
        rev.status.as_str(),
        rev.effective_from.to_string(),
        rev.effective_to.map(|d| d.to_string()),
    ])?;
    conn.prepare_cached("DELETE FROM erp_bom_rev_lines WHERE parent = ?1 AND seq = ?2")?
        .execute(params![rev.parent, seq])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO erp_bom_rev_lines (parent, seq, component, qty_per, scrap_pct, entered_uom,
             entered_qty_per)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for l in &rev.lines {
        insert.execute(params![
            rev.parent,
            seq,
            l.component,
            l.qty_per.to_string(),
            l.scrap_pct.to_string(),
            l.entered_uom,
            l.entered_qty_per.map(|q| q.to_string()),
        ])?;
    }
    Ok(())
}

/// `(parent, component)` of every released revision's lines.
fn released_edges(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT l.parent, l.component FROM erp_bom_rev_lines l
         JOIN erp_bom_revisions r ON r.parent = l.parent AND r.seq = l.seq
         WHERE r.status = 'released'",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn released_cycle(conn: &Connection) -> Result<Option<Vec<String>>, StoreError> {
    let edges = released_edges(conn)?;
    Ok(find_bom_cycle(
        edges.iter().map(|(p, c)| (p.as_str(), c.as_str())),
    ))
}

/// Checks a parent and its lines as a client gave them, and converts them to base units;
/// `Err` says what is wrong.
fn check_lines(
    infos: &HashMap<String, ItemInfo>,
    conversions: &HashMap<String, Vec<UomConversion>>,
    parent: &str,
    input: &[RevisionLineInput],
) -> Result<Vec<RevisionLine>, String> {
    match infos.get(parent) {
        None => {
            return Err(format!(
                "item {parent:?} is not in the item master; expected an item imported with post /api/v1/import/items first"
            ));
        }
        Some(info) if info.kind != ItemKind::Make => {
            return Err(format!(
                "parent {parent:?} is a buy item; expected a make item"
            ));
        }
        Some(_) => {}
    }
    let mut seen = HashSet::new();
    let mut lines = Vec::with_capacity(input.len());
    for (k, l) in input.iter().enumerate() {
        let at = format!("line {} (component {:?})", k + 1, l.component);
        let Some(info) = infos.get(&l.component) else {
            return Err(format!(
                "{at}: item {:?} is not in the item master; expected a known item",
                l.component
            ));
        };
        if l.component == parent {
            return Err(format!(
                "{at}: item {parent:?} is its own component; expected another item"
            ));
        }
        if !seen.insert(l.component.as_str()) {
            return Err(format!(
                "{at}: the component appears twice; expected each component once per revision"
            ));
        }
        let max = Decimal::from(crate::erp::import::MAX_QTY);
        if l.qty_per <= Decimal::ZERO
            || l.qty_per > max
            || l.qty_per.normalize().scale() > crate::erp::import::MAX_QTY_DP
        {
            return Err(format!(
                "{at}: qty_per {} is not valid; expected a number above 0 with at most {} decimals",
                l.qty_per,
                crate::erp::import::MAX_QTY_DP
            ));
        }
        if l.scrap_pct < Decimal::ZERO
            || l.scrap_pct >= Decimal::from(1000)
            || l.scrap_pct.normalize().scale() > crate::erp::import::MAX_QTY_DP
        {
            return Err(format!(
                "{at}: scrap_pct {} is not valid; expected a percentage from 0 to below 1000",
                l.scrap_pct
            ));
        }
        let uom = l.uom.as_deref().unwrap_or("");
        let qty_per = base_qty(info, conversions, &l.component, uom, l.qty_per)
            .map_err(|e| format!("{at}: {e}"))?;
        let entered = !uom.is_empty() && uom != info.uom;
        lines.push(RevisionLine {
            component: l.component.clone(),
            qty_per,
            scrap_pct: l.scrap_pct.normalize(),
            entered_uom: entered.then(|| uom.to_owned()),
            entered_qty_per: entered.then(|| l.qty_per.normalize()),
        });
    }
    lines.sort_by(|a, b| a.component.cmp(&b.component));
    Ok(lines)
}

fn same_content(a: &[RevisionLine], b: &[RevisionLine]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.component == y.component && x.qty_per == y.qty_per && x.scrap_pct == y.scrap_pct
        })
}

fn apply(
    tx: &Transaction<'_>,
    batch: &ImportBatch,
    today: NaiveDate,
    summary: &mut ImportSummary,
) -> Result<Vec<RowError>, StoreError> {
    let mut errors = Vec::new();
    match batch {
        ImportBatch::Items(rows) => {
            for row in rows {
                let r = &row.row;
                let mut details = read_details(tx, &r.item.item)?;
                if let Some(t) = r.tracking {
                    details.tracking = t;
                }
                if let Some(s) = r.shelf_life_days {
                    details.shelf_life_days = s;
                }
                if let Some(p) = r.phantom {
                    details.phantom = p;
                }
                if let Some(g) = &r.gtin {
                    details.gtin.clone_from(g);
                }
                if let Some(why) = gtin_refusal(tx, &r.item.item, details.gtin.as_deref())? {
                    errors.push(RowError::new(row.line, "gtin", why));
                    continue;
                }
                if let Some(why) = uom_change_refusal(tx, &r.item.item, &r.uom)? {
                    errors.push(RowError::new(row.line, "uom", why));
                    continue;
                }
                if details.phantom
                    && let Some(why) = phantom_refusal(tx, &r.item.item, r.item.kind)?
                {
                    let column = if r.phantom.is_some() {
                        "phantom"
                    } else {
                        "kind"
                    };
                    errors.push(RowError::new(row.line, column, why));
                    continue;
                }
                upsert_item(
                    tx,
                    &ItemMaster {
                        item: r.item.item.clone(),
                        description: r.description.clone(),
                        kind: r.item.kind,
                        uom: r.uom.clone(),
                        lead_time_days: r.item.lead_time_days,
                        lot_size_rule: r.item.lot_size_rule,
                        lot_size_qty: r.item.lot_size_qty,
                        safety_stock: r.item.safety_stock,
                        scrap_pct: r.item.scrap_pct,
                        details,
                        conversions: Vec::new(),
                    },
                )?;
            }
        }
        ImportBatch::Boms(rows) => {
            let infos = item_infos(tx)?;
            let conversions = all_conversions(tx)?;
            // Parent → its lines in file order, with the line numbers.
            let mut by_parent: BTreeMap<&str, Vec<(u64, RevisionLine)>> = BTreeMap::new();
            for row in rows {
                let line = &row.row.line;
                match infos.get(&line.parent) {
                    None => errors.push(unknown_item(row.line, "parent", &line.parent)),
                    Some(info) if info.kind != ItemKind::Make => errors.push(RowError::new(
                        row.line,
                        "parent",
                        format!(
                            "parent {:?} is a buy item; expected a make item",
                            line.parent
                        ),
                    )),
                    Some(_) => {}
                }
                let Some(info) = infos.get(&line.component) else {
                    errors.push(unknown_item(row.line, "component", &line.component));
                    continue;
                };
                let uom = row.row.uom.as_str();
                match base_qty(info, &conversions, &line.component, uom, line.qty_per) {
                    Err(e) => errors.push(RowError::new(row.line, "uom", e)),
                    Ok(qty_per) => {
                        let entered = !uom.is_empty() && uom != info.uom;
                        by_parent.entry(&line.parent).or_default().push((
                            row.line,
                            RevisionLine {
                                component: line.component.clone(),
                                qty_per,
                                scrap_pct: line.scrap_pct,
                                entered_uom: entered.then(|| uom.to_owned()),
                                entered_qty_per: entered.then_some(line.qty_per),
                            },
                        ));
                    }
                }
            }
            if !errors.is_empty() {
                return Ok(errors);
            }
            for (parent, lines) in &by_parent {
                let revisions = read_revisions(tx, parent)?;
                let mut new_lines: Vec<RevisionLine> =
                    lines.iter().map(|(_, l)| l.clone()).collect();
                new_lines.sort_by(|a, b| a.component.cmp(&b.component));
                let plain: Vec<BomRevision> = revisions.iter().map(|(_, r)| r.clone()).collect();
                if effective_revision(&plain, today)
                    .is_some_and(|r| same_content(&r.lines, &new_lines))
                {
                    summary.unchanged.push((*parent).to_owned());
                    continue;
                }
                let seq = revisions.last().map_or(1, |(seq, _)| seq + 1);
                let revision = revision_letters(u32::try_from(seq).unwrap_or(u32::MAX));
                // A parent's first BOM replaces nothing, so it has always been in effect.
                let effective_from = if revisions.is_empty() {
                    SINCE_ALWAYS
                } else {
                    today
                };
                write_revision(
                    tx,
                    seq,
                    &BomRevision {
                        parent: (*parent).to_owned(),
                        revision: revision.clone(),
                        status: RevisionStatus::Released,
                        effective_from,
                        effective_to: None,
                        lines: new_lines,
                    },
                )?;
                if !revisions.is_empty() {
                    super::sales::flag_item_changed(
                        tx,
                        parent,
                        "bom_revision",
                        &format!(
                            "BOM revision {revision} of {parent} is in effect from {effective_from}"
                        ),
                        chrono::Utc::now(),
                    )?;
                }
                summary.revisions.push(RevisionMade {
                    parent: (*parent).to_owned(),
                    revision,
                    effective_from,
                });
            }
            if let Some(cycle) = released_cycle(tx)? {
                let on_cycle: HashSet<(&str, &str)> = cycle
                    .windows(2)
                    .map(|w| (w[0].as_str(), w[1].as_str()))
                    .collect();
                let line = rows
                    .iter()
                    .find(|r| {
                        on_cycle
                            .contains(&(r.row.line.parent.as_str(), r.row.line.component.as_str()))
                    })
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
            let infos = item_infos(tx)?;
            let conversions = all_conversions(tx)?;
            // A count is posted to the ledger: the difference to what it holds there.
            let now = chrono::Utc::now();
            for row in rows {
                let r = &row.row;
                let Some(info) = infos.get(&r.item) else {
                    errors.push(unknown_item(row.line, "item", &r.item));
                    continue;
                };
                if info.phantom {
                    errors.push(RowError::new(
                        row.line,
                        "item",
                        format!(
                            "item {:?} is a phantom and is never stocked; expected a stocked item",
                            r.item
                        ),
                    ));
                    continue;
                }
                if !exists(
                    tx,
                    "SELECT 1 FROM erp_locations WHERE location = ?1",
                    &r.location,
                )? {
                    errors.push(RowError::new(row.line, "location", format!(
                        "location {:?} does not exist; expected one created with put /api/v1/warehouses/{{warehouse}}/locations/{{location}}",
                        r.location)));
                    continue;
                }
                let qty = match base_qty(info, &conversions, &r.item, &r.uom, r.qty) {
                    Ok(q) => q,
                    Err(e) => {
                        errors.push(RowError::new(row.line, "uom", e));
                        continue;
                    }
                };
                if info.tracking != Tracking::None && r.lot.is_empty() && !qty.is_zero() {
                    errors.push(RowError::new(
                        row.line,
                        "lot",
                        format!(
                            "item {:?} is {}-tracked; expected its lot or serial number",
                            r.item,
                            info.tracking.as_str()
                        ),
                    ));
                    continue;
                }
                if info.tracking == Tracking::Serial && qty > Decimal::ONE {
                    errors.push(RowError::new(row.line, "qty", format!(
                        "item {:?} is serial-tracked, so serial {:?} is one unit; expected qty 0 or 1 {}", r.item, r.lot, info.uom)));
                    continue;
                }
                let note = if r.note.is_empty() {
                    "inventory import"
                } else {
                    r.note.as_str()
                };
                let count = super::stock::Count {
                    item: &r.item,
                    lot: &r.lot,
                    location: &r.location,
                    uom: &info.uom,
                    counted: qty,
                };
                if super::stock::post_count(tx, &count, note, "admin", now)?.is_some() {
                    summary.adjustments += 1;
                }
            }
        }
        ImportBatch::Demands(rows) | ImportBatch::Receipts(rows) => {
            let receipts = matches!(batch, ImportBatch::Receipts(_));
            let table = if receipts {
                "erp_receipts"
            } else {
                "erp_demands"
            };
            let infos = item_infos(tx)?;
            let conversions = all_conversions(tx)?;
            let mut upsert = tx.prepare(&format!(
                "INSERT INTO {table} (reference, item, qty, due_date) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (reference) DO UPDATE SET item = excluded.item, qty = excluded.qty,
                     due_date = excluded.due_date"
            ))?;
            let mut delete = tx.prepare(&format!("DELETE FROM {table} WHERE reference = ?1"))?;
            for row in rows {
                let r = &row.row.dated;
                let Some(info) = infos.get(&r.item) else {
                    errors.push(unknown_item(row.line, "item", &r.item));
                    continue;
                };
                if receipts && info.phantom && !r.qty.is_zero() {
                    errors.push(RowError::new(row.line, "item", format!(
                        "item {:?} is a phantom and is never ordered; expected a receipt of a planned item", r.item)));
                    continue;
                }
                let qty = match base_qty(info, &conversions, &r.item, &row.row.uom, r.qty) {
                    Ok(q) => q,
                    Err(e) => {
                        errors.push(RowError::new(row.line, "uom", e));
                        continue;
                    }
                };
                if qty.is_zero() {
                    delete.execute(params![r.reference])?;
                } else {
                    upsert.execute(params![
                        r.reference,
                        r.item,
                        qty.to_string(),
                        r.due.to_string()
                    ])?;
                }
            }
        }
        ImportBatch::UomConversions(rows) => {
            let infos = item_infos(tx)?;
            let mut upsert = tx.prepare(
                "INSERT INTO erp_uom_conversions (item, from_uom, to_uom, factor)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (item, from_uom, to_uom) DO UPDATE SET factor = excluded.factor",
            )?;
            let mut delete = tx.prepare(
                "DELETE FROM erp_uom_conversions WHERE item = ?1 AND from_uom = ?2 AND to_uom = ?3",
            )?;
            for row in rows {
                let r = &row.row;
                if !infos.contains_key(&r.item) {
                    errors.push(unknown_item(row.line, "item", &r.item));
                } else if r.factor.is_zero() {
                    delete.execute(params![r.item, r.from_uom, r.to_uom])?;
                } else {
                    upsert.execute(params![r.item, r.from_uom, r.to_uom, r.factor.to_string()])?;
                }
            }
        }
        ImportBatch::Suppliers(rows) => {
            let infos = item_infos(tx)?;
            let mut preferred_in_file: HashMap<&str, u64> = HashMap::new();
            for row in rows {
                let r = &row.row;
                if !infos.contains_key(&r.item) {
                    errors.push(unknown_item(row.line, "item", &r.item));
                    continue;
                }
                if r.preferred
                    && let Some(first) = preferred_in_file.insert(&r.item, row.line)
                {
                    errors.push(RowError::new(row.line, "preferred", format!(
                        "item {:?} already has a preferred supplier on line {first}; expected one preferred supplier per item", r.item)));
                    continue;
                }
                put_terms(
                    tx,
                    &SupplierTerms {
                        supplier: r.supplier.clone(),
                        item: r.item.clone(),
                        lead_time_days: r.lead_time_days,
                        price: r.price,
                        preferred: r.preferred,
                    },
                )?;
            }
        }
        ImportBatch::Locations(rows) => {
            for row in rows {
                let r = &row.row;
                if let Some(why) = location_refusal(tx, &r.warehouse, &r.location)? {
                    errors.push(RowError::new(row.line, "location", why));
                    continue;
                }
                tx.prepare_cached(
                    "INSERT INTO erp_warehouses (warehouse, description) VALUES (?1, '')
                     ON CONFLICT (warehouse) DO NOTHING",
                )?
                .execute(params![r.warehouse])?;
                upsert_location(
                    tx,
                    &Location {
                        location: r.location.clone(),
                        warehouse: r.warehouse.clone(),
                        description: r.description.clone(),
                    },
                )?;
            }
        }
    }
    Ok(errors)
}

/// Why `location` may not be put in `warehouse`, if it may not: ids are unique across
/// warehouses, because inventory rows name only the location.
fn location_refusal(
    conn: &Connection,
    warehouse: &str,
    location: &str,
) -> Result<Option<String>, StoreError> {
    let owner: Option<String> = conn
        .prepare_cached("SELECT warehouse FROM erp_locations WHERE location = ?1")?
        .query_row(params![location], |r| r.get(0))
        .optional()?;
    Ok(owner.filter(|owner| owner != warehouse).map(|owner| {
        format!(
            "location {location:?} belongs to warehouse {owner:?}; expected a location id unique across warehouses"
        )
    }))
}

fn upsert_location(conn: &Connection, l: &Location) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO erp_locations (location, warehouse, description) VALUES (?1, ?2, ?3)
         ON CONFLICT (location) DO UPDATE SET description = excluded.description",
    )?
    .execute(params![l.location, l.warehouse, l.description])?;
    Ok(())
}

/// Upserts terms (creating the supplier if needed, named by its id).
fn put_terms(conn: &Connection, t: &SupplierTerms) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO erp_suppliers (supplier, name) VALUES (?1, ?1) ON CONFLICT (supplier) DO NOTHING",
    )?
    .execute(params![t.supplier])?;
    if t.preferred {
        conn.prepare_cached(
            "UPDATE erp_supplier_items SET preferred = 0 WHERE item = ?1 AND supplier <> ?2",
        )?
        .execute(params![t.item, t.supplier])?;
    }
    conn.prepare_cached(
        "INSERT INTO erp_supplier_items (supplier, item, lead_time_days, price, preferred)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (supplier, item) DO UPDATE SET lead_time_days = excluded.lead_time_days,
             price = excluded.price, preferred = excluded.preferred",
    )?
    .execute(params![
        t.supplier,
        t.item,
        t.lead_time_days,
        t.price.to_string(),
        t.preferred
    ])?;
    Ok(())
}

pub(super) fn read_calendar(conn: &Connection) -> Result<CalendarSpec, StoreError> {
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

/// Open work orders (planned, released, in progress, on hold) as MRP sees them:
///
/// - a scheduled receipt each, of what it has still to put into stock: its quantity less what
///   the ledger received from it (`produced` rows not reversed), on its due date, referenced
///   by its id. A firmed planned order is then supply to the next run, and produced stock is
///   counted once: on hand, not also as a receipt;
/// - its components still to issue (`required − issued`, where above 0) as demand referenced
///   by the order, due on its start (its due date less its item's lead time in working days),
///   so that firming a planned order does not make its material disappear from the plan.
fn open_work_orders(
    conn: &Connection,
    items: &[Item],
    calendar: &CalendarSpec,
) -> Result<(Vec<Dated>, Vec<Dated>), StoreError> {
    let calendar = crate::erp::calendar::Calendar::from_spec(calendar)
        .map_err(|e| StoreError::Corrupt(format!("the stored calendar: {e}")))?;
    let lead_times: std::collections::HashMap<&str, u32> = items
        .iter()
        .map(|i| (i.item.as_str(), i.lead_time_days))
        .collect();
    let mut components = conn.prepare(
        "SELECT item, required, issued FROM wo_components WHERE work_order = ?1 ORDER BY position",
    )?;
    let mut allocations = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT o.work_order, o.item, o.qty, o.due FROM wo_orders o
         WHERE o.state IN ('planned', 'released', 'in_progress', 'on_hold')
         ORDER BY o.work_order",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut received = conn.prepare(
        "SELECT l.qty_delta FROM inv_ledger l
         WHERE l.work_order = ?1 AND l.item = ?2 AND l.reason = 'produced'
             AND NOT EXISTS (SELECT 1 FROM inv_ledger r WHERE r.reverses = l.entry_id)",
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (reference, item, qty, due) = row?;
        let due = date(&due)?;
        let lead_time = lead_times.get(item.as_str()).copied().unwrap_or(0);
        let start = calendar.sub_working_days(due, lead_time).unwrap_or(due);
        let needs = components.query_map(params![reference], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for need in needs {
            let (component, required, issued) = need?;
            let left = decimal(&required)?
                .checked_sub(decimal(&issued)?)
                .unwrap_or(Decimal::ZERO);
            if left > Decimal::ZERO {
                allocations.push(Dated {
                    item: component,
                    qty: left,
                    due: start,
                    reference: reference.clone(),
                });
            }
        }
        let mut left = decimal(&qty)?;
        let deltas = received.query_map(params![reference, item], |r| r.get::<_, String>(0))?;
        for delta in deltas {
            left = left.checked_sub(decimal(&delta?)?).unwrap_or(Decimal::ZERO);
        }
        if left > Decimal::ZERO {
            out.push(Dated {
                item,
                qty: left,
                due,
                reference,
            });
        }
    }
    Ok((out, allocations))
}

fn read_master_data(conn: &mut Connection) -> Result<MasterData, StoreError> {
    let tx = conn.transaction()?;
    let data = master_data_in(&tx)?;
    tx.finish()?;
    Ok(data)
}

/// What MRP plans from, read in the caller's transaction (the promise of an order's
/// confirmation reads it in the transaction that writes the promise). Demand is the demands'
/// file, the components open work orders still have to issue, and confirmed sales orders'
/// open lines ([`super::sales::sales_demands`]).
pub(super) fn master_data_in(tx: &Connection) -> Result<MasterData, StoreError> {
    let mut items = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT i.item, i.kind, i.lead_time_days, i.lot_size_rule, i.lot_size_qty,
                 i.safety_stock, i.scrap_pct, COALESCE(d.phantom, 0)
             FROM erp_items i LEFT JOIN erp_item_details d ON d.item = i.item ORDER BY i.item",
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
                r.get::<_, bool>(7)?,
            ))
        })?;
        for row in rows {
            let (item, kind, lead_time_days, rule, lot_qty, safety, scrap, phantom) = row?;
            items.push(Item {
                kind: ItemKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("item kind {kind:?}")))?,
                lead_time_days,
                lot_size_rule: LotSizeRule::parse(&rule)
                    .ok_or_else(|| StoreError::Corrupt(format!("lot size rule {rule:?}")))?,
                lot_size_qty: decimal(&lot_qty)?,
                safety_stock: decimal(&safety)?,
                scrap_pct: decimal(&scrap)?,
                phantom,
                item,
            });
        }
    }
    let bom = read_released_bom(tx)?;
    // One stock: MRP nets against the ledger's balances (imports are counts posted to it).
    let on_hand = super::stock::on_hand_by_item(tx)?;
    let demands = read_dated(tx, "erp_demands")?;
    let mut demands = demands;
    let mut receipts = read_dated(tx, "erp_receipts")?;
    let calendar = read_calendar(tx)?;
    let (wo_receipts, allocations) = open_work_orders(tx, &items, &calendar)?;
    receipts.extend(wo_receipts);
    demands.extend(allocations);
    demands.extend(super::sales::sales_demands(tx)?);
    let supplier_items = read_terms(tx, None, None)?
        .into_iter()
        .map(|t| SupplierItem {
            supplier: t.supplier,
            item: t.item,
            lead_time_days: t.lead_time_days,
            preferred: t.preferred,
        })
        .collect();
    Ok(MasterData {
        items,
        bom,
        on_hand: on_hand
            .into_iter()
            .map(|(item, qty)| OnHand { item, qty })
            .collect(),
        demands,
        receipts,
        supplier_items,
        calendar,
    })
}

/// The lines of the released revisions that can be in effect, with their effectivity: of
/// revisions with the same `effective_from`, only the latest.
fn read_released_bom(conn: &Connection) -> Result<Vec<BomLine>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT r.parent, r.seq, r.effective_from, r.effective_to, l.component, l.qty_per,
             l.scrap_pct
         FROM erp_bom_revisions r JOIN erp_bom_rev_lines l ON l.parent = r.parent AND l.seq = r.seq
         WHERE r.status = 'released'
         ORDER BY r.parent, r.effective_from, r.seq, l.component",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut bom: Vec<BomLine> = Vec::new();
    // Where the current (parent, effective_from, seq) group starts in `bom`.
    let mut group: Option<(String, String, i64, usize)> = None;
    for row in rows {
        let (parent, seq, from, to, component, qty_per, scrap) = row?;
        match &group {
            Some((p, f, s, _)) if *p == parent && *f == from && *s == seq => {}
            Some((p, f, _, start)) if *p == parent && *f == from => {
                // A later revision with the same effective_from shadows the earlier one.
                bom.truncate(*start);
                group = Some((parent.clone(), from.clone(), seq, *start));
            }
            _ => group = Some((parent.clone(), from.clone(), seq, bom.len())),
        }
        bom.push(BomLine {
            parent,
            component,
            qty_per: decimal(&qty_per)?,
            scrap_pct: decimal(&scrap)?,
            effective_from: Some(date(&from)?),
            effective_to: to.as_deref().map(date).transpose()?,
        });
    }
    Ok(bom)
}

/// Supplier terms: every one, one supplier's, or one item's.
pub(super) fn read_terms(
    conn: &Connection,
    supplier: Option<&str>,
    item: Option<&str>,
) -> Result<Vec<SupplierTerms>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT supplier, item, lead_time_days, price, preferred FROM erp_supplier_items
         WHERE (CAST(?1 AS TEXT) IS NULL OR supplier = ?1)
           AND (CAST(?2 AS TEXT) IS NULL OR item = ?2)
         ORDER BY supplier, item",
    )?;
    let rows = stmt.query_map(params![supplier, item], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, u32>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, bool>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (supplier, item, lead_time_days, price, preferred) = row?;
        out.push(SupplierTerms {
            supplier,
            item,
            lead_time_days,
            price: decimal(&price)?,
            preferred,
        });
    }
    Ok(out)
}

fn read_item_masters(conn: &Connection, only: Option<&str>) -> Result<Vec<ItemMaster>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT i.item, i.description, i.kind, i.uom, i.lead_time_days, i.lot_size_rule,
             i.lot_size_qty, i.safety_stock, i.scrap_pct
         FROM erp_items i WHERE CAST(?1 AS TEXT) IS NULL OR i.item = ?1 ORDER BY i.item",
    )?;
    let rows: Vec<StoredItem> = stmt
        .query_map(params![only], |r| {
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
    let mut conversions = all_conversions(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for (item, description, kind, uom, lead_time_days, rule, lot_qty, safety, scrap) in rows {
        out.push(ItemMaster {
            details: read_details(conn, &item)?,
            conversions: conversions.remove(&item).unwrap_or_default(),
            description,
            kind: parse_kind(&kind)?,
            uom,
            lead_time_days,
            lot_size_rule: LotSizeRule::parse(&rule)
                .ok_or_else(|| StoreError::Corrupt(format!("lot size rule {rule:?}")))?,
            lot_size_qty: decimal(&lot_qty)?,
            safety_stock: decimal(&safety)?,
            scrap_pct: decimal(&scrap)?,
            item,
        });
    }
    Ok(out)
}

fn read_warehouses(conn: &Connection, only: Option<&str>) -> Result<Vec<Warehouse>, StoreError> {
    let heads: Vec<(String, String, String)> = conn
        .prepare_cached(
            "SELECT warehouse, description, plant FROM erp_warehouses
             WHERE CAST(?1 AS TEXT) IS NULL OR warehouse = ?1 ORDER BY warehouse",
        )?
        .query_map(params![only], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut locations_of = conn.prepare_cached(
        "SELECT location, warehouse, description FROM erp_locations WHERE warehouse = ?1
         ORDER BY location",
    )?;
    let mut out = Vec::with_capacity(heads.len());
    for (warehouse, description, plant) in heads {
        let locations = locations_of
            .query_map(params![warehouse], |r| {
                Ok(Location {
                    location: r.get(0)?,
                    warehouse: r.get(1)?,
                    description: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        out.push(Warehouse {
            warehouse,
            description,
            plant,
            locations,
        });
    }
    Ok(out)
}

fn read_suppliers(conn: &Connection, only: Option<&str>) -> Result<Vec<Supplier>, StoreError> {
    let heads: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT supplier, name FROM erp_suppliers WHERE CAST(?1 AS TEXT) IS NULL OR supplier = ?1
             ORDER BY supplier",
        )?
        .query_map(params![only], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(heads.len());
    for (supplier, name) in heads {
        let items = read_terms(conn, Some(&supplier), None)?;
        out.push(Supplier {
            supplier,
            name,
            items,
        });
    }
    Ok(out)
}

/// Most levels of phantoms inside phantoms a work order's components are resolved through
/// (the BOM is acyclic, so this only bounds a corrupt file).
const MAX_PHANTOM_DEPTH: usize = 32;

/// The components a work order for `parent` copies, from the revision in effect on `date`:
/// phantoms are replaced by their own components (revision in effect on the same date), their
/// `qty_per × (1 + scrap %)` multiplied in. Each component once: `(component, qty_per,
/// scrap_pct)` in base units, sorted by component; a component reached twice gets the summed
/// quantity (and scrap folded into it, where the two scraps differ).
pub(super) fn work_order_components(
    conn: &Connection,
    parent: &str,
    date: NaiveDate,
) -> Result<Vec<(String, Decimal, Decimal)>, StoreError> {
    let mut phantom =
        conn.prepare_cached("SELECT phantom FROM erp_item_details WHERE item = ?1")?;
    let mut out: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    let mut stack: Vec<(String, Decimal, usize)> = vec![(parent.to_owned(), Decimal::ONE, 0)];
    let overflow = || StoreError::Corrupt(format!("bom quantities of {parent:?} overflow"));
    while let Some((item, factor, depth)) = stack.pop() {
        let revisions: Vec<BomRevision> = read_revisions(conn, &item)?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        let Some(rev) = effective_revision(&revisions, date) else {
            continue;
        };
        for l in &rev.lines {
            let is_phantom = phantom
                .query_row(params![l.component], |r| r.get::<_, bool>(0))
                .optional()?
                .unwrap_or(false);
            if is_phantom && depth < MAX_PHANTOM_DEPTH {
                let scrap = Decimal::ONE
                    + l.scrap_pct
                        .checked_div(Decimal::ONE_HUNDRED)
                        .ok_or_else(overflow)?;
                let f = factor
                    .checked_mul(l.qty_per)
                    .and_then(|f| f.checked_mul(scrap))
                    .ok_or_else(overflow)?;
                stack.push((l.component.clone(), f, depth + 1));
                continue;
            }
            let qty_per = factor.checked_mul(l.qty_per).ok_or_else(overflow)?;
            match out.get_mut(&l.component) {
                None => {
                    out.insert(l.component.clone(), (qty_per, l.scrap_pct));
                }
                Some((q, s)) if *s == l.scrap_pct => {
                    *q = q.checked_add(qty_per).ok_or_else(overflow)?
                }
                Some((q, s)) => {
                    let with = |q: Decimal, s: Decimal| {
                        q.checked_mul(Decimal::ONE + s / Decimal::ONE_HUNDRED)
                    };
                    *q = with(*q, *s)
                        .zip(with(qty_per, l.scrap_pct))
                        .and_then(|(a, b)| a.checked_add(b))
                        .ok_or_else(overflow)?;
                    *s = Decimal::ZERO;
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|(c, (q, s))| (c, q.normalize(), s.normalize()))
        .collect())
}

#[async_trait]
impl ErpStore for SqlStore {
    async fn import_at(
        &self,
        batch: ImportBatch,
        today: NaiveDate,
    ) -> Result<Result<ImportSummary, Vec<RowError>>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut summary = ImportSummary {
                kind: batch.kind(),
                rows: batch.len(),
                revisions: Vec::new(),
                unchanged: Vec::new(),
                adjustments: 0,
            };
            let mut errors = apply(&tx, &batch, today, &mut summary)?;
            if !errors.is_empty() {
                // Dropping the transaction rolls it back: all or nothing.
                errors.sort_by_key(|e| e.line);
                return Ok(Err(errors));
            }
            tx.commit()?;
            Ok(Ok(summary))
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

    async fn items(&self) -> Result<Vec<ItemMaster>, StoreError> {
        self.read(|conn| read_item_masters(conn, None)).await
    }

    async fn item(&self, item: String) -> Result<Option<ItemMaster>, StoreError> {
        self.read(move |conn| Ok(read_item_masters(conn, Some(&item))?.into_iter().next()))
            .await
    }

    async fn put_item(&self, item: ItemMaster) -> ErpResult<ItemMaster> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(why) = uom_change_refusal(&tx, &item.item, &item.uom)? {
                return Ok(Err(Rejection::Invalid(why)));
            }
            if item.details.phantom
                && let Some(why) = phantom_refusal(&tx, &item.item, item.kind)?
            {
                return Ok(Err(Rejection::Invalid(why)));
            }
            if let Some(by) = item.details.obsolete.as_ref().and_then(|o| o.replaced_by.as_ref()) {
                if *by == item.item {
                    return Ok(Err(Rejection::Invalid(format!(
                        "obsolete.replaced_by {by:?} is the item itself; expected its successor"
                    ))));
                }
                if !exists(&tx, "SELECT 1 FROM erp_items WHERE item = ?1", by)? {
                    return Ok(Err(Rejection::Invalid(format!(
                        "obsolete.replaced_by {by:?} is not in the item master; expected the item sold instead"
                    ))));
                }
            }
            if let Some(why) = gtin_refusal(&tx, &item.item, item.details.gtin.as_deref())? {
                return Ok(Err(Rejection::Conflict {
                    code: "gtin_taken",
                    message: why,
                }));
            }
            upsert_item(&tx, &item)?;
            let stored = read_item_masters(&tx, Some(&item.item))?.into_iter().next();
            tx.commit()?;
            stored
                .map(Ok)
                .ok_or_else(|| StoreError::Corrupt("the item just written is missing".into()))
        })
        .await
    }

    async fn put_conversions(
        &self,
        item: String,
        conversions: Vec<UomConversion>,
    ) -> ErpResult<Vec<UomConversion>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !exists(&tx, "SELECT 1 FROM erp_items WHERE item = ?1", &item)? {
                return Ok(Err(Rejection::NotFound(format!(
                    "item {item:?} is not in the item master; expected an item imported with post /api/v1/import/items first"
                ))));
            }
            tx.execute("DELETE FROM erp_uom_conversions WHERE item = ?1", params![item])?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO erp_uom_conversions (item, from_uom, to_uom, factor)
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                for c in &conversions {
                    insert.execute(params![item, c.from_uom, c.to_uom, c.factor.to_string()])?;
                }
            }
            let stored = item_conversions(&tx, &item)?;
            tx.commit()?;
            Ok(Ok(stored))
        })
        .await
    }

    async fn bom(&self, parent: String) -> ErpResult<Vec<BomRevision>> {
        self.read(move |conn| {
            if !exists(conn, "SELECT 1 FROM erp_items WHERE item = ?1", &parent)? {
                return Ok(Err(Rejection::NotFound(format!(
                    "item {parent:?} is not in the item master; expected a known item"
                ))));
            }
            Ok(Ok(read_revisions(conn, &parent)?
                .into_iter()
                .map(|(_, r)| r)
                .collect()))
        })
        .await
    }

    async fn create_revision(
        &self,
        parent: String,
        input: RevisionInput,
    ) -> ErpResult<BomRevision> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let infos = item_infos(&tx)?;
            if !infos.contains_key(&parent) {
                return Ok(Err(Rejection::NotFound(format!(
                    "item {parent:?} is not in the item master; expected a known item"
                ))));
            }
            let lines = match check_lines(&infos, &all_conversions(&tx)?, &parent, &input.lines) {
                Ok(lines) => lines,
                Err(e) => return Ok(Err(Rejection::Invalid(e))),
            };
            let seq = read_revisions(&tx, &parent)?
                .last()
                .map_or(1, |(seq, _)| seq + 1);
            let rev = BomRevision {
                parent: parent.clone(),
                revision: revision_letters(u32::try_from(seq).unwrap_or(u32::MAX)),
                status: RevisionStatus::Draft,
                effective_from: input.effective_from,
                effective_to: input.effective_to,
                lines,
            };
            write_revision(&tx, seq, &rev)?;
            tx.commit()?;
            Ok(Ok(rev))
        })
        .await
    }

    async fn update_revision(
        &self,
        parent: String,
        revision: String,
        input: RevisionInput,
    ) -> ErpResult<BomRevision> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (seq, old) = match find_revision(&tx, &parent, &revision)? {
                Ok(found) => found,
                Err(r) => return Ok(Err(r)),
            };
            if old.status == RevisionStatus::Released {
                return Ok(Err(released(&parent, &revision)));
            }
            let infos = item_infos(&tx)?;
            let lines = match check_lines(&infos, &all_conversions(&tx)?, &parent, &input.lines) {
                Ok(lines) => lines,
                Err(e) => return Ok(Err(Rejection::Invalid(e))),
            };
            let rev = BomRevision {
                effective_from: input.effective_from,
                effective_to: input.effective_to,
                lines,
                ..old
            };
            write_revision(&tx, seq, &rev)?;
            tx.commit()?;
            Ok(Ok(rev))
        })
        .await
    }

    async fn release_revision(&self, parent: String, revision: String) -> ErpResult<BomRevision> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (seq, old) = match find_revision(&tx, &parent, &revision)? {
                Ok(found) => found,
                Err(r) => return Ok(Err(r)),
            };
            if old.status == RevisionStatus::Released {
                return Ok(Err(Rejection::Conflict {
                    code: "revision_released",
                    message: format!("revision {revision} of {parent:?} is already released; expected a draft"),
                }));
            }
            if old.lines.is_empty() {
                return Ok(Err(Rejection::Invalid(format!(
                    "revision {revision} of {parent:?} has no lines; expected at least one component"
                ))));
            }
            if old.effective_to.is_some_and(|to| to < old.effective_from) {
                return Ok(Err(Rejection::Invalid(format!(
                    "revision {revision} of {parent:?} ends before it starts; expected effective_to on or after effective_from"
                ))));
            }
            let rev = BomRevision {
                status: RevisionStatus::Released,
                ..old
            };
            write_revision(&tx, seq, &rev)?;
            if let Some(cycle) = released_cycle(&tx)? {
                return Ok(Err(Rejection::Invalid(format!(
                    "releasing revision {revision} of {parent:?} would make the bom cycle {}; expected a bom without cycles",
                    cycle.join(" -> ")
                ))));
            }
            if seq > 1 {
                super::sales::flag_item_changed(
                    &tx,
                    &parent,
                    "bom_revision",
                    &format!(
                        "BOM revision {revision} of {parent} is released, in effect from {}",
                        rev.effective_from
                    ),
                    chrono::Utc::now(),
                )?;
            }
            tx.commit()?;
            Ok(Ok(rev))
        })
        .await
    }

    async fn warehouses(&self) -> Result<Vec<Warehouse>, StoreError> {
        self.read(|conn| read_warehouses(conn, None)).await
    }

    async fn warehouse(&self, warehouse: String) -> Result<Option<Warehouse>, StoreError> {
        self.read(move |conn| Ok(read_warehouses(conn, Some(&warehouse))?.into_iter().next()))
            .await
    }

    async fn put_warehouse(
        &self,
        warehouse: String,
        description: String,
        plant: Option<String>,
    ) -> ErpResult<Warehouse> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(plant) = &plant
                && !exists(&tx, "SELECT 1 FROM plants WHERE plant = ?1", plant)?
            {
                return Ok(Err(Rejection::Invalid(format!(
                    "plant: no plant {plant:?}; expected one created with put /api/v1/plants/{{plant}}"
                ))));
            }
            tx.execute(
                "INSERT INTO erp_warehouses (warehouse, description, plant) VALUES (?1, ?2, coalesce(?3, 'default'))
                 ON CONFLICT (warehouse) DO UPDATE SET description = excluded.description,
                    plant = coalesce(?3, erp_warehouses.plant)",
                params![warehouse, description, plant],
            )?;
            let stored = read_warehouses(&tx, Some(&warehouse))?.into_iter().next();
            tx.commit()?;
            stored
                .map(Ok)
                .ok_or_else(|| StoreError::Corrupt("the warehouse just written is missing".into()))
        })
        .await
    }

    async fn put_location(&self, location: Location) -> ErpResult<Location> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !exists(&tx, "SELECT 1 FROM erp_warehouses WHERE warehouse = ?1", &location.warehouse)? {
                return Ok(Err(Rejection::NotFound(format!(
                    "warehouse {:?} does not exist; expected one created with put /api/v1/warehouses/{{warehouse}}",
                    location.warehouse
                ))));
            }
            if let Some(message) = location_refusal(&tx, &location.warehouse, &location.location)? {
                return Ok(Err(Rejection::Conflict {
                    code: "conflict",
                    message,
                }));
            }
            upsert_location(&tx, &location)?;
            tx.commit()?;
            Ok(Ok(location))
        })
        .await
    }

    async fn suppliers(&self) -> Result<Vec<Supplier>, StoreError> {
        self.read(|conn| read_suppliers(conn, None)).await
    }

    async fn supplier(&self, supplier: String) -> Result<Option<Supplier>, StoreError> {
        self.read(move |conn| Ok(read_suppliers(conn, Some(&supplier))?.into_iter().next()))
            .await
    }

    async fn put_supplier(&self, supplier: String, name: String) -> ErpResult<Supplier> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO erp_suppliers (supplier, name) VALUES (?1, ?2)
                 ON CONFLICT (supplier) DO UPDATE SET name = excluded.name",
                params![supplier, name],
            )?;
            let stored = read_suppliers(&tx, Some(&supplier))?.into_iter().next();
            tx.commit()?;
            stored
                .map(Ok)
                .ok_or_else(|| StoreError::Corrupt("the supplier just written is missing".into()))
        })
        .await
    }

    async fn put_supplier_item(&self, terms: SupplierTerms) -> ErpResult<SupplierTerms> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !exists(&tx, "SELECT 1 FROM erp_suppliers WHERE supplier = ?1", &terms.supplier)? {
                return Ok(Err(Rejection::NotFound(format!(
                    "supplier {:?} does not exist; expected one created with put /api/v1/suppliers/{{supplier}}",
                    terms.supplier
                ))));
            }
            if !exists(&tx, "SELECT 1 FROM erp_items WHERE item = ?1", &terms.item)? {
                return Ok(Err(Rejection::Invalid(format!(
                    "item {:?} is not in the item master; expected a known item",
                    terms.item
                ))));
            }
            put_terms(&tx, &terms)?;
            tx.commit()?;
            Ok(Ok(terms))
        })
        .await
    }

    async fn delete_supplier_item(&self, supplier: String, item: String) -> ErpResult<()> {
        self.write(move |conn| {
            let n = conn.execute(
                "DELETE FROM erp_supplier_items WHERE supplier = ?1 AND item = ?2",
                params![supplier, item],
            )?;
            Ok(if n == 0 {
                Err(Rejection::NotFound(format!(
                    "supplier {supplier:?} has no terms for item {item:?}"
                )))
            } else {
                Ok(())
            })
        })
        .await
    }
}

fn released(parent: &str, revision: &str) -> Rejection {
    Rejection::Conflict {
        code: "revision_released",
        message: format!(
            "revision {revision} of {parent:?} is released and cannot be changed; expected a new revision (post /api/v1/boms/{parent}/revisions)"
        ),
    }
}

fn find_revision(
    conn: &Connection,
    parent: &str,
    revision: &str,
) -> Result<Result<(i64, BomRevision), Rejection>, StoreError> {
    Ok(read_revisions(conn, parent)?
        .into_iter()
        .find(|(_, r)| r.revision == revision)
        .ok_or_else(|| {
            Rejection::NotFound(format!(
                "item {parent:?} has no bom revision {revision:?}; expected one listed by get /api/v1/boms/{parent}"
            ))
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Schema 3 kept one unrevised BOM per parent in `erp_bom_lines`; opening the file with
    /// this build makes it released revision A, in effect since always, once.
    #[test]
    fn schema_3_boms_become_released_revision_a_once() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE erp_bom_lines (parent TEXT NOT NULL, component TEXT NOT NULL,
                 qty_per TEXT NOT NULL, scrap_pct TEXT NOT NULL, PRIMARY KEY (parent, component));
             INSERT INTO erp_bom_lines VALUES ('A', 'B', '2', '0'), ('A', 'C', '1', '5');",
        )
        .unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let revisions = read_revisions(&conn, "A").unwrap();
        assert_eq!(revisions.len(), 1);
        let (seq, rev) = &revisions[0];
        assert_eq!(
            (*seq, rev.revision.as_str(), rev.status, rev.effective_from),
            (1, "A", RevisionStatus::Released, SINCE_ALWAYS)
        );
        let bom = read_released_bom(&conn).unwrap();
        let lines: Vec<(&str, String, String)> = bom
            .iter()
            .map(|l| {
                (
                    l.component.as_str(),
                    l.qty_per.to_string(),
                    l.scrap_pct.to_string(),
                )
            })
            .collect();
        assert_eq!(
            lines,
            [("B", "2".into(), "0".into()), ("C", "1".into(), "5".into())]
        );
    }

    /// Of two released revisions with the same `effective_from`, MRP reads only the later.
    #[test]
    fn a_later_revision_with_the_same_start_shadows_the_earlier() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let d = |s: &str| -> NaiveDate { s.parse().unwrap() };
        let rev = |letter: &str, from: &str, component: &str| BomRevision {
            parent: "A".into(),
            revision: letter.into(),
            status: RevisionStatus::Released,
            effective_from: d(from),
            effective_to: None,
            lines: vec![RevisionLine {
                component: component.into(),
                qty_per: Decimal::ONE,
                scrap_pct: Decimal::ZERO,
                entered_uom: None,
                entered_qty_per: None,
            }],
        };
        write_revision(&conn, 1, &rev("A", "2025-01-01", "B")).unwrap();
        write_revision(&conn, 2, &rev("B", "2025-02-01", "C")).unwrap();
        write_revision(&conn, 3, &rev("C", "2025-02-01", "D")).unwrap();
        let bom: Vec<(String, Option<NaiveDate>)> = read_released_bom(&conn)
            .unwrap()
            .into_iter()
            .map(|l| (l.component, l.effective_from))
            .collect();
        assert_eq!(
            bom,
            [
                ("B".to_owned(), Some(d("2025-01-01"))),
                ("D".to_owned(), Some(d("2025-02-01")))
            ]
        );
    }
}
